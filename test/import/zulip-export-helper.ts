/**
 * What the Zulip import tests share: the export fixture and the passwords its hashes were made
 * from, the real `latchkey` command in a child process, a `latchkey serve` on the same database,
 * HTTP requests to an organization's subdomain, and a picture of every row in the database.
 */
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { sql } from "kysely";
import { openDatabase } from "../../src/store/database.js";
import { type CliRun, runCli, startNode } from "../cluster-helper.js";

export { BIN } from "../cluster-helper.js";
export const FIXTURE = join(import.meta.dirname, "..", "fixtures", "zulip-export");
export const ROOT_HOST = "latchkey.test";

/** The passwords the fixture's Django hashes were made from (argon2: Claudius, Ophelia; PBKDF2: the rest). */
export const PASSWORDS = {
  "claudius@elsinore.dk": "Claudius-Crown-Poison-1601",
  "polonius@elsinore.dk": "Polonius-Behind-Arras-1602",
  "ophelia@elsinore.dk": "Ophelia-Rosemary-Rue-1603",
  "rosencrantz@elsinore.dk": "Rosencrantz-Letter-1604",
  "yorick@elsinore.dk": "Yorick-Infinite-Jest-1605",
} as const;

export type ExportRow = Record<string, unknown>;
export type ExportData = Record<string, unknown> & {
  zerver_realm: ExportRow[];
  zerver_userprofile: ExportRow[];
  zerver_service?: { token: string }[];
};

export function readFixture(): ExportData {
  return JSON.parse(readFileSync(join(FIXTURE, "realm.json"), "utf8")) as ExportData;
}

/** The fixture's account row for an email. */
export function fixtureUser(email: string): ExportRow {
  const row = readFixture().zerver_userprofile.find((u) => u.delivery_email === email);
  assert.ok(row, `no ${email} in the fixture`);
  return row;
}

/** A copy of the fixture directory in `dir`, with `realm.json` changed by `edit`. */
export function writeExport(dir: string, edit: (data: ExportData) => void): string {
  cpSync(FIXTURE, dir, { recursive: true });
  const data = readFixture();
  edit(data);
  writeFileSync(join(dir, "realm.json"), JSON.stringify(data, null, 2));
  return dir;
}

export function envFor(dir: string, databaseUrl: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    LATCHKEY_DATABASE_URL: databaseUrl,
    LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
    LATCHKEY_EXTERNAL_HOST: ROOT_HOST,
    LATCHKEY_EXTERNAL_SCHEME: "http",
    LATCHKEY_LOG_LEVEL: "silent",
    LATCHKEY_HASH_CONCURRENCY: "1",
    LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
  };
}

export type Run = CliRun;

/** Runs `latchkey ...args` and waits for it to exit. */
export const latchkey = (env: Record<string, string>, args: string[]): Promise<Run> => runCli(env, args);

/** The summary of a first import of the fixture as it is. */
export const FIRST_IMPORT_SUMMARY = [
  'Organization "Elsinore" (subdomain "elsinore"): created.',
  "Users: 6 imported, 0 already present (skipped).",
  "Bots: 3 imported, 0 already present (skipped).",
  "Deactivated accounts among those imported: 1.",
  "Passwords: 5 kept, 1 without a usable password (they need a password reset).",
  "API keys: 7 kept, 2 new (the export had none for those accounts).",
  "",
].join("\n");

export const NOTHING_TO_IMPORT =
  'Nothing to import: organization "Elsinore" (subdomain "elsinore"), 6 users and 3 bots already present.\n';

/** Starts `latchkey serve` on a free port of 127.0.0.1; resolves with its base URL. */
export async function serve(env: Record<string, string>): Promise<{ base: string; stop(): Promise<void> }> {
  const node = await startNode({ ...env, PORT: "0", HOST: "127.0.0.1" });
  return {
    base: `http://127.0.0.1:${node.port}`,
    stop: async () => {
      await node.stop("SIGTERM");
    },
  };
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** An HTTP request to the organization at `subdomain`, as a client there would send it. */
export function call(
  base: string,
  subdomain: string,
  method: "GET" | "POST",
  path: string,
  options: { form?: Record<string, string>; basic?: [string, string] } = {},
): Promise<Reply> {
  const url = new URL(path, base);
  const payload = options.form === undefined ? undefined : new URLSearchParams(options.form).toString();
  const headers: Record<string, string> = { host: subdomain === "" ? ROOT_HOST : `${subdomain}.${ROOT_HOST}` };
  if (payload !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
  if (options.basic !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.basic[0]}:${options.basic[1]}`).toString("base64")}`;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method, headers }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** Every row of every table, in a stable order: equal pictures mean an unchanged database. */
export async function snapshot(databaseUrl: string): Promise<Record<string, string[]>> {
  const handle = await openDatabase(databaseUrl);
  try {
    const tables = (await handle.db.introspection.getTables({ withInternalKyselyTables: true }))
      .filter((t) => handle.schema === undefined || t.schema === handle.schema)
      .map((t) => t.name)
      .sort();
    const out: Record<string, string[]> = {};
    for (const table of tables) {
      const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(handle.db);
      out[table] = rows.map((row) => JSON.stringify(row)).sort();
    }
    return out;
  } finally {
    await handle.close();
  }
}
