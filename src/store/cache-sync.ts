/**
 * Keeps every process's key cache in step with the database. On SQLite, a change committed by
 * another process (the CLI, a second server) moves `PRAGMA data_version`, and the cache is
 * dropped (read at most once a millisecond). On PostgreSQL, each invalidation is sent with NOTIFY and applied by every listener,
 * or, when Redis is configured, published on a Redis channel instead (which also works behind
 * connection poolers that do not pass LISTEN through).
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Invalidation, KeyCache } from "../domain/key-cache.js";
import type { DatabaseHandle } from "./database.js";

export const CHANNEL = "latchkey_key_cache";
/** The Redis channel invalidations travel on. */
export const REDIS_CHANNEL = "latchkey:key-cache";

function asInvalidation(raw: unknown): Invalidation | null {
  if (typeof raw !== "object" || raw === null) return null;
  const value = raw as Invalidation;
  if (
    value.kind === "all" ||
    (value.kind === "user" && Number.isInteger(value.userId)) ||
    (value.kind === "realm" && Number.isInteger(value.realmId))
  ) {
    return value;
  }
  return null;
}

function parseJson(payload: string | undefined): unknown {
  try {
    return JSON.parse(payload ?? "");
  } catch {
    // Ignore payloads that are not ours.
    return null;
  }
}

function parseInvalidation(payload: string | undefined): Invalidation | null {
  return asInvalidation(parseJson(payload));
}

export interface CacheSync {
  close(): Promise<void>;
}

type Log = { warn(obj: object, msg?: string): void };

/**
 * Connects `cache` to the other processes sharing `database`: SQLite's data_version; on
 * PostgreSQL, Redis pub/sub when `redis` is given, else LISTEN/NOTIFY.
 */
export async function syncKeyCache(
  database: DatabaseHandle,
  cache: KeyCache,
  log: Log,
  redis: Redis | null = null,
): Promise<CacheSync> {
  const dataVersion = database.dataVersion;
  if (dataVersion !== null) {
    // Reading data_version runs a statement (about 2 µs), so it is read at most once per
    // millisecond of the clock: a change committed by another process is seen by every request
    // that starts in a later millisecond, and busy servers do not pay for a read per request.
    let seen = dataVersion();
    let readAt = Date.now();
    cache.setStaleCheck(() => {
      const at = Date.now();
      if (at === readAt) return false;
      readAt = at;
      const now = dataVersion();
      if (now === seen) return false;
      seen = now;
      return true;
    });
    return { close: async () => {} };
  }
  if (redis !== null) return syncKeyCacheOverRedis(redis, cache, log);
  const pool = database.pgPool as pg.Pool;
  cache.onInvalidate((event) => {
    pool.query("SELECT pg_notify($1, $2)", [CHANNEL, JSON.stringify(event)]).catch((err: unknown) => {
      log.warn({ err }, "could not broadcast a key-cache invalidation");
    });
  });
  let listener: pg.PoolClient | null = null;
  let closed = false;
  const connect = async (): Promise<void> => {
    const client = await pool.connect();
    client.on("notification", (msg) => {
      if (msg.channel !== CHANNEL) return;
      const event = parseInvalidation(msg.payload);
      if (event !== null) cache.apply(event);
    });
    client.on("error", (err) => {
      // The listening connection broke: anything may have changed meanwhile, so drop the cache
      // and listen again.
      log.warn({ err }, "key-cache listener lost its connection");
      client.release(true);
      listener = null;
      cache.apply({ kind: "all" });
      if (!closed) retry();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    listener = client;
  };
  const retry = (): void => {
    setTimeout(() => {
      if (!closed) connect().catch(retry);
    }, 1000).unref();
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      if (listener !== null) {
        const client = listener;
        listener = null;
        await client.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
        client.release();
      }
    },
  };
}

export interface RedisSyncOptions {
  /** The channel; tests use one of their own. */
  channel?: string;
}

/**
 * Carries invalidations between nodes over Redis pub/sub. A node hears only what is published
 * while it is subscribed, so while its subscription is down the cache is bypassed (every key
 * check reads the database), and it is dropped whole when the subscription returns.
 */
export async function syncKeyCacheOverRedis(
  redis: Redis,
  cache: KeyCache,
  log: Log,
  options: RedisSyncOptions = {},
): Promise<CacheSync> {
  const channel = options.channel ?? REDIS_CHANNEL;
  const origin = randomUUID();
  cache.onInvalidate((event) => {
    redis.publish(channel, JSON.stringify({ origin, event })).catch((err: unknown) => {
      log.warn({ err: { message: (err as Error).message } }, "could not broadcast a key-cache invalidation");
    });
  });

  // A connection of its own: a subscribed connection can run nothing else. Its offline queue
  // stays on so that the subscription is sent as soon as it connects.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false });
  let live = false;
  cache.setStaleCheck(() => !live);
  subscriber.on("message", (ch: string, payload: string) => {
    if (ch !== channel) return;
    const message = parseJson(payload) as { origin?: unknown; event?: unknown } | null;
    // A node's own invalidations were applied when it made them.
    if (typeof message !== "object" || message === null || message.origin === origin) return;
    const event = asInvalidation(message.event);
    if (event !== null) cache.apply(event);
  });
  let firstAttempt: () => void = () => {};
  const firstSubscription = new Promise<void>((resolve) => {
    firstAttempt = resolve;
  });
  subscriber.on("ready", () => {
    subscriber.subscribe(channel).then(
      () => {
        // Anything may have changed while nobody was listening.
        cache.apply({ kind: "all" });
        live = true;
        firstAttempt();
      },
      (err: unknown) => {
        log.warn({ err: { message: (err as Error).message } }, "could not subscribe to key-cache invalidations");
        firstAttempt();
      },
    );
  });
  subscriber.on("close", () => {
    live = false;
  });
  subscriber.on("error", () => {
    // Reported by the command connection; reconnection continues.
  });
  // With Redis up, the cache is live when this returns; with Redis down, it starts bypassed.
  await subscriber.connect().catch(() => {});
  if (subscriber.status === "ready") await firstSubscription;
  return {
    close: async () => {
      live = false;
      subscriber.disconnect();
    },
  };
}
