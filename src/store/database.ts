/**
 * Opens the database named by `LATCHKEY_DATABASE_URL`: a SQLite file path (the embedded
 * default, WAL mode) or a `postgres://` URL. A `?schema=NAME` on a PostgreSQL URL puts every
 * table in that schema (handy for tests and for sharing a database).
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient, SqliteDialect } from "kysely";
import pg from "pg";
import { MESSAGES, ServiceUnavailableError } from "../errors.js";
import { migrateToLatest, refuseNewerSchema } from "./migrations.js";
import type { Database } from "./schema.js";

export type Dialect = "sqlite" | "postgres";

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** The PostgreSQL schema named by `?schema=`, if any. */
  schema?: string;
  dialect: Dialect;
  /** The PostgreSQL pool, for LISTEN/NOTIFY; null on SQLite. */
  pgPool: pg.Pool | null;
  /**
   * SQLite's `data_version`: it changes when another connection (another process) commits.
   * Null on PostgreSQL, where LISTEN/NOTIFY carries that news instead.
   */
  dataVersion: (() => number) | null;
  close(): Promise<void>;
}

const INT8_OID = 20;

export interface DatabaseOptions {
  /**
   * PostgreSQL: how long a query, or waiting for a connection, may take before it fails with
   * a 503, in ms. A link that goes quiet must not hold requests forever.
   */
  timeoutMs?: number;
  /** Apply pending migrations on open (the default); `latchkey migrate` applies them itself. */
  migrate?: boolean;
}

/** The default of `LATCHKEY_DATABASE_TIMEOUT_MS`. */
export const DATABASE_TIMEOUT_MS = 5000;

/** SQLSTATE classes and codes that mean the connection, not the statement, failed. */
const CONNECTION_SQLSTATES = /^(08...|57P0[1-3]|53300)$/;
const CONNECTION_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
]);
const CONNECTION_MESSAGES =
  /Query read timeout|Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|Connection ended/i;

/** Whether `err` says that PostgreSQL could not be reached or stopped answering. */
export function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (CONNECTION_SQLSTATES.test(code) || CONNECTION_ERRNOS.has(code))) return true;
  return typeof message === "string" && CONNECTION_MESSAGES.test(message);
}

function databaseUnavailable(cause: unknown): ServiceUnavailableError {
  const error = new ServiceUnavailableError(MESSAGES.databaseUnavailable, { headers: { "retry-after": "5" } });
  error.cause = cause;
  return error;
}

/**
 * The pool Kysely sees: a connection failure becomes a 503 (`ServiceUnavailableError`) instead
 * of an unexplained 500, and the connection it happened on is destroyed rather than handed to
 * the next request.
 */
function guardPool(pool: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw isConnectionFailure(err) ? databaseUnavailable(err) : err;
      }
      let broken: Error | undefined;
      const query = async (sql: string, parameters: readonly unknown[]) => {
        try {
          return await client.query(sql, parameters as unknown[]);
        } catch (err) {
          if (!isConnectionFailure(err)) throw err;
          broken = err as Error;
          throw databaseUnavailable(err);
        }
      };
      return {
        query: query as unknown as PostgresPoolClient["query"],
        release: () => client.release(broken),
      };
    },
    end: () => pool.end(),
  };
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

function openPostgres(url: string, options: DatabaseOptions): DatabaseHandle {
  const parsed = new URL(url);
  const timeoutMs = options.timeoutMs ?? DATABASE_TIMEOUT_MS;
  // pg_stat_activity shows whose connections these are (the key-cache listener adds its role).
  if (!parsed.searchParams.has("application_name")) parsed.searchParams.set("application_name", "latchkey");
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new Error(`invalid schema name in database URL: ${schema}`);
  }
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 10,
    // A quiet link fails requests with a 503 after this long instead of holding them.
    query_timeout: timeoutMs,
    connectionTimeoutMillis: timeoutMs,
    // Dead peers are noticed on idle connections too (the key-cache listener is one).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(schema === null ? {} : { options: `-c search_path=${schema}` }),
    // Times are bigint milliseconds; they fit a JS number exactly.
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (for example the server restarting) must not crash the process.
  pool.on("error", () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardPool(pool) }) });
  return {
    db,
    dialect: "postgres",
    ...(schema === null ? {} : { schema }),
    pgPool: pool,
    dataVersion: null,
    close: () => db.destroy(),
  };
}

function openSqlite(path: string): DatabaseHandle {
  if (path !== ":memory:") {
    // The database holds password hashes and sealed keys: a directory it creates is 0700, and a
    // new file is created 0600 before SQLite opens it (its -wal and -shm files take that mode).
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, "a", 0o600));
  }
  const sqlite = new SQLite(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("synchronous = NORMAL");
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const dataVersion = sqlite.prepare("PRAGMA data_version").pluck();
  return {
    db,
    dialect: "sqlite",
    pgPool: null,
    dataVersion: () => dataVersion.get() as number,
    close: () => db.destroy(),
  };
}

/**
 * Opens the database and brings its schema up to date; refuses (`SchemaTooNewError`) a
 * database a newer Latchkey has migrated.
 */
export async function openDatabase(url: string, options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  const handle = isPostgresUrl(url) ? openPostgres(url, options) : openSqlite(url.replace(/^sqlite:(\/\/)?/, ""));
  try {
    if (options.migrate === false) await refuseNewerSchema(handle.db, handle.schema);
    else await migrateToLatest(handle.db, handle.schema);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}
