/**
 * Keeps every process's key cache in step with the database. On SQLite, a change committed by
 * another process (the CLI, a second server) moves `PRAGMA data_version`, and the cache is
 * dropped (read at most once a millisecond). On PostgreSQL, each invalidation is sent with
 * NOTIFY and applied by every listener, or, when Redis is configured, published on a Redis
 * channel instead (which also works behind connection poolers that do not pass LISTEN through).
 *
 * A channel can fail in three ways, and none may leave a revoked key working:
 *  - the node stops hearing (connection reset, backend killed, Redis restarted): the cache is
 *    bypassed until the channel is back, then flushed (`KeyCache.channelLost`/`channelRestored`);
 *  - the link goes quiet without a reset (a frozen network path): a heartbeat on the listening
 *    connection notices within `heartbeatMs` plus the query timeout and treats it as lost;
 *  - a publish fails: the sender asks every node to flush once it can publish again.
 * Whatever slips past all three is bounded by the cache's entry lifetime.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Invalidation, KeyCache } from "../domain/key-cache.js";
import type { DatabaseHandle } from "./database.js";

export const CHANNEL = "latchkey_key_cache";

/**
 * The NOTIFY channel of the deployment whose tables live in `schema`: deployments sharing one
 * PostgreSQL database in schemas of their own do not flush each other's caches. PostgreSQL
 * cuts identifiers at 63 bytes; two schemas that agree on their first 44 characters share a
 * channel, which costs only extra flushes.
 */
export function notifyChannel(schema: string | undefined): string {
  return (schema === undefined ? CHANNEL : `${CHANNEL}_${schema}`).slice(0, 63);
}
/** The Redis channel invalidations travel on. */
export const REDIS_CHANNEL = "latchkey:key-cache";
/** The application_name suffix of the listening connection, as pg_stat_activity shows it. */
export const LISTENER_NAME = "key-cache listener";

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

type Log = { warn(obj: object, msg?: string): void; info?(obj: object, msg?: string): void };

export interface SyncOptions {
  /** How often the listening connection is checked, in ms. */
  heartbeatMs?: number;
  /** How long a heartbeat may take before the link counts as lost, in ms. */
  heartbeatTimeoutMs?: number;
  /** The Redis channel; tests use one of their own. */
  channel?: string;
}

const HEARTBEAT_MS = 2000;
const HEARTBEAT_TIMEOUT_MS = 3000;
const RETRY_MS = 1000;

/** Resolves with `work`, or rejects once `ms` have passed without an answer. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Connects `cache` to the other processes sharing `database`: SQLite's data_version; on
 * PostgreSQL, Redis pub/sub when `redis` is given, else LISTEN/NOTIFY.
 */
export async function syncKeyCache(
  database: DatabaseHandle,
  cache: KeyCache,
  log: Log,
  redis: Redis | null = null,
  options: SyncOptions = {},
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
  if (redis !== null) return syncKeyCacheOverRedis(redis, cache, log, options);
  return syncKeyCacheOverPostgres(database.pgPool as pg.Pool, notifyChannel(database.schema), cache, log, options);
}

/**
 * Publishes with `send`; when a publish fails, keeps asking every node to flush (`{kind:"all"}`)
 * until one such request goes out, so that a change made while the channel was down is not
 * lost on nodes that could still hear.
 */
function makePublisher(
  send: (event: Invalidation) => Promise<unknown>,
  log: Log,
): { publish(event: Invalidation): void; stop(): void } {
  let owed: NodeJS.Timeout | null = null;
  let stopped = false;
  const flushEveryone = (): void => {
    owed = setTimeout(() => {
      send({ kind: "all" }).then(
        () => {
          owed = null;
          log.warn({}, "asked every node to flush its key cache after a lost invalidation");
        },
        () => {
          if (!stopped) flushEveryone();
        },
      );
    }, RETRY_MS);
    owed.unref();
  };
  return {
    publish(event) {
      send(event).catch((err: unknown) => {
        log.warn(
          { err: { message: (err as Error).message } },
          "could not broadcast a key-cache invalidation; every node will be asked to flush",
        );
        if (owed === null && !stopped) flushEveryone();
      });
    },
    stop() {
      stopped = true;
      if (owed !== null) clearTimeout(owed);
    },
  };
}

/**
 * LISTEN/NOTIFY on a connection of its own, checked by a heartbeat (`SELECT 1`) so that a link
 * that went quiet without a reset is noticed; TCP keepalive is on for every pool connection.
 */
async function syncKeyCacheOverPostgres(
  pool: pg.Pool,
  channel: string,
  cache: KeyCache,
  log: Log,
  options: SyncOptions,
): Promise<CacheSync> {
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  const publisher = makePublisher((event) => pool.query("SELECT pg_notify($1, $2)", [channel, JSON.stringify(event)]), log);
  cache.onInvalidate((event) => publisher.publish(event));

  let listener: pg.PoolClient | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const lose = (client: pg.PoolClient, err: unknown): void => {
    if (listener !== client) return;
    // Anything may change while nobody listens: stop trusting the cache until LISTEN is back.
    listener = null;
    cache.channelLost();
    if (heartbeat !== null) clearInterval(heartbeat);
    heartbeat = null;
    log.warn(
      { err: { message: (err as Error).message } },
      "key-cache listener lost its connection; the key cache is bypassed until it is back",
    );
    client.removeAllListeners("notification");
    client.release(err instanceof Error ? err : new Error(String(err)));
    if (!closed) retry();
  };

  const connect = async (): Promise<void> => {
    const client = await pool.connect();
    client.on("notification", (msg) => {
      if (msg.channel !== channel) return;
      const event = parseInvalidation(msg.payload);
      if (event !== null) cache.apply(event);
    });
    client.on("error", (err) => lose(client, err));
    try {
      await withTimeout(
        client.query(
          `SELECT set_config('application_name', left(current_setting('application_name') || ' ${LISTENER_NAME}', 63), false)`,
        ),
        heartbeatTimeoutMs,
        "naming the listener",
      );
      await withTimeout(client.query(`LISTEN ${channel}`), heartbeatTimeoutMs, "LISTEN");
    } catch (err) {
      client.removeAllListeners("notification");
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    listener = client;
    // Listening again: what was missed while deaf is dropped, then the cache is trusted.
    if (!cache.trusted) log.warn({}, "key-cache listener is back; the key cache was flushed");
    cache.channelRestored();
    heartbeat = setInterval(() => {
      withTimeout(client.query("SELECT 1"), heartbeatTimeoutMs, "the listener's heartbeat").catch((err: unknown) =>
        lose(client, err),
      );
    }, heartbeatMs);
    heartbeat.unref();
  };
  const retry = (): void => {
    retryTimer = setTimeout(() => {
      if (!closed) connect().catch(retry);
    }, RETRY_MS);
    retryTimer.unref();
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      publisher.stop();
      if (heartbeat !== null) clearInterval(heartbeat);
      if (retryTimer !== null) clearTimeout(retryTimer);
      if (listener !== null) {
        const client = listener;
        listener = null;
        await withTimeout(client.query(`UNLISTEN ${channel}`), heartbeatTimeoutMs, "UNLISTEN").catch(() => {});
        client.release();
      }
    },
  };
}

/**
 * Carries invalidations between nodes over Redis pub/sub. A node hears only what is published
 * while it is subscribed, so while its subscription is down the cache is bypassed (every key
 * check reads the database), and it is dropped whole when the subscription returns. A PING on
 * the subscribed connection notices a link that went quiet.
 */
export async function syncKeyCacheOverRedis(
  redis: Redis,
  cache: KeyCache,
  log: Log,
  options: SyncOptions = {},
): Promise<CacheSync> {
  const channel = options.channel ?? REDIS_CHANNEL;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  const origin = randomUUID();
  const publisher = makePublisher((event) => redis.publish(channel, JSON.stringify({ origin, event })), log);
  cache.onInvalidate((event) => publisher.publish(event));

  // A connection of its own: a subscribed connection can run nothing else. Its offline queue
  // stays on so that the subscription is sent as soon as it connects.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: false });
  // Not subscribed yet: nothing another node changes would be heard.
  cache.channelLost();
  subscriber.on("message", (ch: string, payload: string) => {
    if (ch !== channel) return;
    const message = parseJson(payload) as { origin?: unknown; event?: unknown } | null;
    // A node's own invalidations were applied when it made them; a request to flush is
    // applied by everyone, the sender included.
    if (typeof message !== "object" || message === null) return;
    const event = asInvalidation(message.event);
    if (event === null || (message.origin === origin && event.kind !== "all")) return;
    cache.apply(event);
  });
  let firstAttempt: () => void = () => {};
  const firstSubscription = new Promise<void>((resolve) => {
    firstAttempt = resolve;
  });
  subscriber.on("ready", () => {
    subscriber.subscribe(channel).then(
      () => {
        // Anything may have changed while nobody was listening.
        cache.channelRestored();
        firstAttempt();
      },
      (err: unknown) => {
        log.warn({ err: { message: (err as Error).message } }, "could not subscribe to key-cache invalidations");
        firstAttempt();
      },
    );
  });
  subscriber.on("close", () => cache.channelLost());
  subscriber.on("error", () => {
    // Reported by the command connection; reconnection continues.
  });
  let closed = false;
  const heartbeat = setInterval(() => {
    if (subscriber.status !== "ready" || !cache.trusted) return;
    withTimeout(subscriber.ping(), heartbeatTimeoutMs, "the subscriber's PING").catch(() => {
      if (closed) return;
      // A quiet link: stop trusting the cache and reconnect (the "ready" handler resubscribes).
      cache.channelLost();
      log.warn({}, "key-cache subscriber stopped answering; reconnecting");
      subscriber.disconnect(true);
    });
  }, heartbeatMs);
  heartbeat.unref();
  // With Redis up, the cache is live when this returns; with Redis down, it starts bypassed.
  await subscriber.connect().catch(() => {});
  if (subscriber.status === "ready") await firstSubscription;
  return {
    close: async () => {
      closed = true;
      clearInterval(heartbeat);
      publisher.stop();
      cache.channelLost();
      subscriber.disconnect();
    },
  };
}
