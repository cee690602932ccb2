/**
 * The Redis connection behind shared rate limits and cross-node cache invalidation. Commands
 * fail at once while it is disconnected (no offline queue) and give up after two seconds, so
 * an outage turns into the documented fallbacks instead of requests that hang.
 */
import { Redis } from "ioredis";

export interface RedisLog {
  warn(obj: object, msg?: string): void;
}

/** Client options shared by the command and subscriber connections. */
export function redisOptions(log: RedisLog) {
  let reported = false;
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    // Keep trying, at most every two seconds; the fallbacks cover the gap.
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
    onError: (err: Error) => {
      // One line per outage, not one per reconnection attempt.
      if (reported) return;
      reported = true;
      log.warn({ err: { name: err.name, message: err.message } }, "redis connection error");
    },
    onReady: () => {
      if (reported) log.warn({}, "redis connection restored");
      reported = false;
    },
  };
}

/**
 * Opens a client for `url` and waits for the first connection. An unreachable server is
 * logged, not thrown: the client keeps reconnecting in the background.
 */
export async function openRedis(url: string, log: RedisLog): Promise<Redis> {
  const { onError, onReady, ...options } = redisOptions(log);
  const redis = new Redis(url, options);
  redis.on("error", onError);
  redis.on("ready", onReady);
  try {
    await redis.connect();
  } catch {
    // Reported by the error listener; reconnection continues.
  }
  return redis;
}

/** Closes a client whether or not it is connected. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "ready") {
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}
