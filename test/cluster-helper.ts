/**
 * Real server processes for the tests of several nodes: `latchkey serve` children on one
 * database, a Redis server of the test's own (so it can be stopped and restarted), and a TCP
 * proxy that can freeze a link without resetting it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { request as httpRequest } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Config } from "../src/config.js";
import { createContext } from "../src/context.js";
import { createAccount, createRealm } from "../src/domain/accounts.js";
import { loadOrCreateSecrets } from "../src/secrets.js";
import { openDatabase } from "../src/store/database.js";
import { testConfig } from "./helper.js";

export const BIN = join(import.meta.dirname, "..", "bin", "latchkey.js");

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every `everyMs` until it returns true, for at most `withinMs`; returns whether it did. */
export async function pollUntil(check: () => boolean | Promise<boolean>, withinMs: number, everyMs = 50): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): Record<string, unknown>;
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Gives up (rejects) after this long; 10 s by default. */
  timeoutMs?: number;
}

/** One HTTP request on a fresh connection (no keep-alive), with `Host: testserver`. */
export function call(port: number, path: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: "testserver", connection: "close", ...options.headers };
    if (options.body !== undefined) {
      headers["content-type"] ??= "application/x-www-form-urlencoded";
      headers["content-length"] = String(Buffer.byteLength(options.body));
    }
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
      res.on("error", reject);
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${path} in time`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** `Authorization: Basic base64(email:key)`. */
export function basicAuth(email: string, key: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` };
}

/**
 * A database for server processes to open: one organization at the root domain named `realmName`,
 * with ann@example.com (password `password`, or none). Returns Ann's API key.
 */
export async function seedAnn(
  databaseUrl: string,
  secretsFile: string,
  realmName: string,
  password: string | null,
  config: Config = testConfig("production"),
): Promise<string> {
  const database = await openDatabase(databaseUrl);
  try {
    const ctx = createContext({ config, database, secrets: loadOrCreateSecrets(secretsFile) });
    const realm = await createRealm(ctx, { subdomain: "", name: realmName });
    return (await createAccount(ctx, { realmId: realm.id, email: "ann@example.com", fullName: "Ann", password })).apiKey;
  } finally {
    await database.close();
  }
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `latchkey ...args` to its end with `stdin` as its input. */
export function runCli(env: Record<string, string>, args: string[], stdin = ""): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", () => {});
    child.stdin.end(stdin);
  });
}

export interface NodeProcess {
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to standard output and error. */
  output(): string;
  /** Sends `signal` and waits for the exit; returns the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The environment every test node shares: quiet logs, cheap Argon2, no mail. */
export function nodeEnv(dir: string, extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    PORT: "0",
    HOST: "127.0.0.1",
    LATCHKEY_EXTERNAL_HOST: "testserver",
    LATCHKEY_EXTERNAL_SCHEME: "http",
    LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
    LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
    LATCHKEY_SEND_LOGIN_EMAILS: "false",
    LATCHKEY_ARGON2_MEMORY_KIB: "19456",
    LATCHKEY_ARGON2_TIME_COST: "2",
    LATCHKEY_ARGON2_PARALLELISM: "1",
    LATCHKEY_HASH_CONCURRENCY: "1",
    LATCHKEY_LOG_LEVEL: "warn",
    ...extra,
  };
}

/**
 * Starts `latchkey <args>` (by default `serve --workers 1`) with `env` and waits until it listens; the
 * port comes from its "listening on" line.
 */
export async function startNode(env: Record<string, string>, args: string[] = ["serve", "--workers", "1"]): Promise<NodeProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let port = 0;
  const listening = new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      output += `${line}\n`;
      const m = /listening on [^\s]*:(\d+)/.exec(line);
      if (m !== null && port === 0) {
        port = Number(m[1]);
        resolve();
      }
    });
    exited.then(() => reject(new Error(`latchkey ${args.join(" ")} exited before listening:\n${output}`)));
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    await listening;
  } finally {
    clearTimeout(timer);
  }
  return {
    port,
    child,
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      clearTimeout(killer);
      return code;
    },
  };
}

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server (SIGKILL: no goodbye to the clients) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** A `redis-server` of the test's own on a random port, without persistence. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let seen = "";
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.on("data", (c: Buffer) => {
        seen += c.toString();
        if (seen.includes("Ready to accept connections")) resolve();
      });
      proc.on("error", (err) =>
        reject(
          process.env.CI
            ? err
            : new Error(`redis-server could not start (${err.message}); the Debian package redis-server provides it`),
        ),
      );
      proc.on("exit", () => reject(new Error(`redis-server exited: ${seen}`)));
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      const proc = child;
      child = null;
      if (proc === null || proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGKILL");
      await exited;
    },
    start,
  };
}

/**
 * A TCP proxy whose link can be frozen: while frozen, bytes are held in both directions and
 * new connections are accepted but not carried further, as a network path that goes quiet
 * without a reset; thawing delivers what was held.
 */
export interface FreezableProxy {
  port: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function freezableProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const held: (() => void)[] = [];
  const forward = (from: Socket, to: () => Socket | null): void => {
    from.on("data", (chunk: Buffer) => {
      const deliver = () => to()?.write(chunk);
      if (frozen) held.push(deliver);
      else deliver();
    });
  };
  const server: Server = createServer((client) => {
    sockets.add(client);
    let upstream: Socket | null = null;
    const open = (): void => {
      upstream = connect(targetPort, targetHost);
      sockets.add(upstream);
      forward(upstream, () => client);
      upstream.on("close", () => client.destroy());
      upstream.on("error", () => client.destroy());
    };
    forward(client, () => upstream);
    client.on("close", () => upstream?.destroy());
    client.on("error", () => upstream?.destroy());
    if (frozen) held.push(open);
    else open();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const deliver of held.splice(0)) deliver();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A name no other test uses, for application_name and key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}
