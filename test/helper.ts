/**
 * Builds a Latchkey app per test on a fresh in-memory SQLite database (or PostgreSQL), with
 * a fast Argon2id hasher unless the test asks for the real parameters.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import pg from "pg";
import type { Logger } from "pino";
import { buildApp } from "../src/app.js";
import { Argon2Hasher } from "../src/auth/password-hasher.js";
import { type Config, loadConfig, type Mode } from "../src/config.js";
import { createContext } from "../src/context.js";
import { createAccount, createRealm } from "../src/domain/accounts.js";
import type { Context, Log } from "../src/domain/context.js";
import { MemoryMailer } from "../src/domain/mailer.js";
import { type Clock, type Realm, ROLE, type User } from "../src/domain/model.js";
import type { HashOptions, PasswordHasher, VerifyResult } from "../src/domain/ports.js";
import { generateSecrets } from "../src/secrets.js";
import { type DatabaseHandle, openDatabase } from "../src/store/database.js";
import { checkAnswersAgainstDocument } from "./openapi-check.js";

/** A deliberately cheap Argon2id for tests; production refuses parameters this low. */
export const FAST_ARGON2 = { memoryCost: 256, timeCost: 1, parallelism: 1 };

/** A hasher that counts its calls, so timing defences can be checked without timing anything. */
export class CountingHasher implements PasswordHasher {
  hashes = 0;
  verifies = 0;
  dummies = 0;
  constructor(private readonly inner: PasswordHasher = new Argon2Hasher(FAST_ARGON2, 4)) {}
  hash(password: string, options?: HashOptions): Promise<string> {
    this.hashes++;
    return this.inner.hash(password, options);
  }
  verify(stored: string, password: string, options?: HashOptions): Promise<VerifyResult> {
    this.verifies++;
    return this.inner.verify(stored, password, options);
  }
  verifyDummy(password: string, options?: HashOptions): Promise<void> {
    this.dummies++;
    return this.inner.verifyDummy(password, options);
  }
  assertCapacity(): void {
    this.inner.assertCapacity?.();
  }
  /** Verifications of any kind: what an attacker's stopwatch would see. */
  get work(): number {
    return this.verifies + this.dummies;
  }
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export const PASSWORD = "secret-Passw0rd!";

export interface TestServer {
  app: FastifyInstance;
  ctx: Context;
  config: Config;
  database: DatabaseHandle;
  hasher: CountingHasher;
  clock: ManualClock;
  realm: Realm;
  iago: User;
  hamlet: User;
  keys: Map<number, string>;
  /** Every email the server sent (unless the test configured SMTP). */
  mailer: MemoryMailer;
  close(): Promise<void>;
}

export interface TestServerOptions {
  mode?: Mode;
  env?: Record<string, string>;
  databaseUrl?: string;
  hasher?: PasswordHasher;
  port?: number;
  /** Where the rules log; nowhere by default. */
  log?: Log;
  /** A pino logger for both the rules and the HTTP layer (request lines, and rules run with `request.log`). */
  logger?: Logger;
  /** How long a failed OpenID Connect discovery is remembered. */
  oidcRetryAfterMs?: number;
}

/** Default environment for tests: the root organization at testserver. */
export function testConfig(mode: Mode, env: Record<string, string> = {}): Config {
  return loadConfig(mode, {
    LATCHKEY_EXTERNAL_HOST: "testserver",
    LATCHKEY_EXTERNAL_SCHEME: "http",
    LATCHKEY_LOG_LEVEL: "silent",
    // Tests never write to the checkout's outbox.
    LATCHKEY_EMAIL_OUTBOX: join(tmpdir(), `latchkey-test-outbox-${process.pid}`),
    ...env,
  });
}

export async function makeTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const config = testConfig(options.mode ?? "development", options.env);
  const database = await openDatabase(options.databaseUrl ?? ":memory:");
  const clock = new ManualClock();
  const hasher = new CountingHasher(options.hasher);
  const mailer = new MemoryMailer();
  const ctx = createContext({
    config,
    database,
    secrets: generateSecrets(),
    hasher,
    clock,
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.logger === undefined ? {} : { log: options.logger }),
    ...(options.oidcRetryAfterMs === undefined ? {} : { oidcRetryAfterMs: options.oidcRetryAfterMs }),
    // Tests that name an SMTP server or an outbox folder get the real transport.
    ...(config.email.smtp === null && options.env?.LATCHKEY_EMAIL_OUTBOX === undefined ? { mailer } : {}),
  });
  const app = await buildApp({ config, ctx, ...(options.logger === undefined ? {} : { logger: options.logger }) });
  // Every answer a test receives must be one docs/openapi.json describes.
  checkAnswersAgainstDocument(app);
  const realm = await createRealm(ctx, { subdomain: "", name: "Zulip Dev", description: "A test organization." });
  const keys = new Map<number, string>();
  const add = async (email: string, fullName: string, role: number) => {
    const { user, apiKey } = await createAccount(ctx, { realmId: realm.id, email, fullName, role, password: PASSWORD });
    keys.set(user.id, apiKey);
    return user;
  };
  const iago = await add("iago@zulip.com", "Iago", ROLE.administrator);
  const hamlet = await add("hamlet@zulip.com", "King Hamlet", ROLE.member);
  hasher.hashes = 0;
  return {
    app,
    ctx,
    config,
    database,
    hasher,
    clock,
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.logger === undefined ? {} : { log: options.logger }),
    realm,
    iago,
    hamlet,
    keys,
    mailer,
    close: async () => {
      // A test is over: connections a browser or client still holds (keep-alive, preconnects)
      // are cut rather than waited for.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await database.close();
    },
  };
}

/** `Authorization: Basic base64(email:key)`. */
export function basic(email: string, key: string): string {
  return `Basic ${Buffer.from(`${email}:${key}`, "utf8").toString("base64")}`;
}

/** A urlencoded form body. */
export function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  };
}

export function json(res: LightMyRequestResponse): Record<string, unknown> {
  return res.json() as Record<string, unknown>;
}

/**
 * A PostgreSQL URL with a fresh schema of its own, or null when no server answers (outside CI).
 * Under CI=true a missing server is an error: those tests must run there.
 */
export async function freshPostgresUrl(): Promise<{ url: string; drop(): Promise<void> } | null> {
  const base = process.env.LATCHKEY_TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";
  const schema = `lk_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (err) {
    if (underCi()) throw new Error(`PostgreSQL is required under CI but ${base} is unreachable: ${(err as Error).message}`);
    console.log(`# PostgreSQL at ${base} is unreachable; set LATCHKEY_TEST_POSTGRES_URL to run the PostgreSQL tests`);
    return null;
  }
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = `${base}${base.includes("?") ? "&" : "?"}schema=${schema}`;
  return {
    url,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** A port of 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Whether the tests run under a CI system, which sets CI to a value of its own choosing (`true`,
 * `1`, a name); there a missing PostgreSQL, Redis or slapd is a failure, never a skip. Only an
 * empty value, `0` or `false` means "not CI".
 */
export function underCi(): boolean {
  const value = (process.env.CI ?? "").trim().toLowerCase();
  return value !== "" && value !== "0" && value !== "false";
}

/** A log destination that keeps every line written to it, as text and parsed from JSON. */
export function memoryLog(): { stream: Writable; lines: string[]; records: Record<string, unknown>[] } {
  const lines: string[] = [];
  const records: Record<string, unknown>[] = [];
  let pending = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString("utf8");
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        if (line === "") continue;
        lines.push(line);
        records.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { stream, lines, records };
}
