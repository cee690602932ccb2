/**
 * Fills a database with many accounts quickly, for the benchmarks at scale: one organization at
 * the root, `count` people without passwords, each with a real API key (HMAC digest and sealed
 * copy made with the secrets file's keys, as `createAccount` makes them), written with the
 * driver's bulk paths rather than one domain call per account. Returns the keys of a sample.
 */
import { join } from "node:path";
import SQLite from "better-sqlite3";
import pg from "pg";
import { generateApiKey, KeyVault } from "../src/domain/api-key.js";
import { loadOrCreateSecrets } from "../src/secrets.js";
import { isPostgresUrl, openDatabase } from "../src/store/database.js";

export interface Populated {
  /** [email, key] of `sample` accounts spread evenly over all of them. */
  sample: [string, string][];
}

const BATCH = 5000;

/** Creates the schema, the root organization and `count` accounts; keeps `sample` of them. */
export async function populate(databaseUrl: string, secretsFile: string, count: number, sample: number): Promise<Populated> {
  const handle = await openDatabase(databaseUrl);
  await handle.close();
  const secrets = loadOrCreateSecrets(secretsFile);
  const vault = new KeyVault(secrets.hmacPepper, secrets.keySealingKey);
  const now = Date.now();
  const every = Math.max(1, Math.floor(count / sample));
  const kept: [string, string][] = [];
  const rows = function* (): Generator<[string, string, string]> {
    for (let i = 0; i < count; i++) {
      const email = `user${i}@bench.test`;
      const key = generateApiKey();
      const sealed = vault.seal(key);
      if (i % every === 0 && kept.length < sample) kept.push([email, key]);
      yield [email, sealed.digest, sealed.sealed];
    }
  };
  if (!isPostgresUrl(databaseUrl)) {
    const db = new SQLite(databaseUrl.replace(/^sqlite:(\/\/)?/, ""));
    db.pragma("journal_mode = WAL");
    db.prepare("INSERT INTO realms (string_id, name, date_created) VALUES ('', 'Bench', ?)").run(now);
    const insert = db.prepare(
      "INSERT INTO users (realm_id, email, delivery_email, delivery_email_key, full_name, api_key_digest, api_key_sealed, date_joined) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
    );
    let batch: [string, string, string][] = [];
    const flush = db.transaction((items: [string, string, string][]) => {
      for (const [email, digest, sealed] of items) insert.run(email, email, email, email, digest, sealed, now);
    });
    for (const row of rows()) {
      batch.push(row);
      if (batch.length === BATCH) {
        flush(batch);
        batch = [];
      }
    }
    flush(batch);
    db.close();
    return { sample: kept };
  }
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get("schema");
  url.searchParams.delete("schema");
  const client = new pg.Client({
    connectionString: url.toString(),
    ...(schema === null ? {} : { options: `-c search_path=${schema}` }),
  });
  await client.connect();
  const realm = await client.query("INSERT INTO realms (string_id, name, date_created) VALUES ('', 'Bench', $1) RETURNING id", [
    now,
  ]);
  const realmId = realm.rows[0].id as number;
  let batch: [string, string, string][] = [];
  const flush = async (items: [string, string, string][]) => {
    if (items.length === 0) return;
    const emails = items.map((r) => r[0]);
    await client.query(
      `INSERT INTO users (realm_id, email, delivery_email, delivery_email_key, full_name, api_key_digest, api_key_sealed, date_joined)
       SELECT $1, e, e, e, e, d, s, $2 FROM unnest($3::text[], $4::text[], $5::text[]) AS t(e, d, s)`,
      [realmId, now, emails, items.map((r) => r[1]), items.map((r) => r[2])],
    );
  };
  for (const row of rows()) {
    batch.push(row);
    if (batch.length === BATCH) {
      await flush(batch);
      batch = [];
    }
  }
  await flush(batch);
  await client.query("ANALYZE users");
  await client.end();
  return { sample: kept };
}

/** A secrets file path inside `dir`. */
export function secretsIn(dir: string): string {
  return join(dir, "secrets.json");
}
