/**
 * Redis for tests: a connected client and a key prefix of the test's own, or null when no
 * server answers (outside CI). Under CI=true a missing server is an error.
 */
import { randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import type { Redis } from "ioredis";
import { closeRedis, openRedis } from "../src/store/redis.js";
import { freePort, underCi } from "./helper.js";

const quiet = { warn() {} };

export interface TestRedis {
  url: string;
  redis: Redis;
  /** A prefix (and channel name) no other test uses. */
  prefix: string;
  /** Another connection to the same server, as a second node would have. */
  connect(): Promise<Redis>;
  close(): Promise<void>;
}

export async function testRedis(): Promise<TestRedis | null> {
  const url = process.env.LATCHKEY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const redis = await openRedis(url, quiet);
  if (redis.status !== "ready") {
    await closeRedis(redis);
    if (underCi()) throw new Error(`Redis is required under CI but ${url} is unreachable`);
    console.log(`# Redis at ${url} is unreachable; set LATCHKEY_TEST_REDIS_URL to run the Redis tests`);
    return null;
  }
  const prefix = `latchkey-test:${randomBytes(6).toString("hex")}:`;
  const others: Redis[] = [];
  return {
    url,
    redis,
    prefix,
    connect: async () => {
      const other = await openRedis(url, quiet);
      others.push(other);
      return other;
    },
    close: async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      for (const other of others) await closeRedis(other);
      await closeRedis(redis);
    },
  };
}

/** A redis:// URL on which nothing listens: a port that was just free. */
export async function unreachableRedisUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

/**
 * A TCP proxy in front of Redis that can be cut and restored, to take Redis away from a node
 * and give it back without touching the server other tests use.
 */
export interface RedisCut {
  url: string;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function cuttableRedis(target: string): Promise<RedisCut> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port || 6379), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const local = typeof address === "object" && address !== null ? address.port : 0;
  const cut = () => {
    open = false;
    for (const s of sockets) s.destroy();
  };
  return {
    url: `redis://127.0.0.1:${local}`,
    cut,
    restore: () => {
      open = true;
    },
    close: async () => {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `client` is connected, trying for at most ten seconds. */
export async function waitUntilReady(client: Redis): Promise<void> {
  for (let i = 0; i < 200 && client.status !== "ready"; i++) await new Promise((r) => setTimeout(r, 50));
  if (client.status !== "ready") throw new Error(`Redis did not reconnect (status ${client.status})`);
}
