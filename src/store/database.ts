/**
 * Opens the database named by `LATCHKEY_DATABASE_URL`: a SQLite file path (the embedded
 * default, WAL mode) or a `postgres://` URL. A `?schema=NAME` on a PostgreSQL URL puts every
 * table in that schema (handy for tests and for sharing a database).
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { migrateToLatest } from "./migrations.js";
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

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

function openPostgres(url: string): DatabaseHandle {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new Error(`invalid schema name in database URL: ${schema}`);
  }
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 10,
    ...(schema === null ? {} : { options: `-c search_path=${schema}` }),
    // Times are bigint milliseconds; they fit a JS number exactly.
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (for example the server restarting) must not crash the process.
  pool.on("error", () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
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

/** Opens the database and brings its schema up to date. */
export async function openDatabase(url: string): Promise<DatabaseHandle> {
  const handle = isPostgresUrl(url) ? openPostgres(url) : openSqlite(url.replace(/^sqlite:(\/\/)?/, ""));
  try {
    await migrateToLatest(handle.db, handle.schema);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}
