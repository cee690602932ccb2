/**
 * Upgrading from the first released schema: a database as Latchkey 0.1.0 made it (its schema
 * and migration records, kept in test/store/fixtures), filled with people, keys, bots, a web
 * session, audit rows, a push token and a key's last use written in that version's layout, is
 * migrated by today's `latchkey migrate`; then `latchkey serve` accepts every old key, password,
 * bot and session. A database migrated by a newer version is refused. SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Algorithm, hash } from "@node-rs/argon2";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { makeDjangoPbkdf2 } from "../../src/auth/password-hasher.js";
import { createContext } from "../../src/context.js";
import { generateApiKey, KeyVault } from "../../src/domain/api-key.js";
import { loadOrCreateSecrets } from "../../src/secrets.js";
import { openDatabase } from "../../src/store/database.js";
import { MIGRATIONS } from "../../src/store/migrations.js";
import { basicAuth, call, nodeEnv, runCli, startNode } from "../cluster-helper.js";
import { freshPostgresUrl, testConfig } from "../helper.js";

/** The migrations Latchkey 0.1.0 shipped: what the fixtures record as run. */
const RELEASED_0_1_0 = ["0001_core", "0002_key_lifecycle", "0003_ldap", "0004_web"];
const FIXTURES = join(import.meta.dirname, "fixtures");
const NOW = Date.now();
const FLOOR = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

interface OldAccount {
  email: string;
  key: string;
  password: string | null;
}

/** Writes 0.1.0-era rows with `db` (the old column layout); returns what the clients hold. */
// biome-ignore lint/suspicious/noExplicitAny: the old schema has no type of its own in today's code.
async function fill(db: Kysely<any>, vault: KeyVault) {
  await db
    .insertInto("realms")
    .values({ id: 1, string_id: "", name: "Released", description: "", deactivated: 0, date_created: NOW })
    .execute();
  const accounts: Record<string, OldAccount & { id: number }> = {};
  const argon2 = await hash("Ann-Passw0rd-Old", { ...FLOOR, algorithm: 2 as Algorithm, outputLen: 32 });
  const djangoArgon2 = `argon2${await hash("Cat-Passw0rd-Old", { ...FLOOR, algorithm: 2 as Algorithm, outputLen: 32 })}`;
  const people: [string, string | null, string | null, Record<string, unknown>][] = [
    ["ann@example.com", "Ann-Passw0rd-Old", argon2, {}],
    ["bob@example.com", "Bob-Passw0rd-Old", await makeDjangoPbkdf2("Bob-Passw0rd-Old", "oldsalt", 1000), {}],
    ["cat@example.com", "Cat-Passw0rd-Old", djangoArgon2, {}],
    ["dan@example.com", null, null, { is_active: 0 }],
    ["helper-bot@testserver", null, null, { is_bot: 1, bot_type: 1, bot_owner_id: 1 }],
    ["hook-bot@testserver", null, null, { is_bot: 1, bot_type: 3, bot_owner_id: 1 }],
  ];
  let id = 0;
  for (const [email, password, passwordHash, extra] of people) {
    const key = generateApiKey();
    const sealed = vault.seal(key);
    id++;
    await db
      .insertInto("users")
      .values({
        id,
        realm_id: 1,
        email,
        delivery_email: email,
        delivery_email_key: email.toLowerCase(),
        full_name: email.split("@")[0],
        role: 400,
        password_hash: passwordHash,
        api_key_digest: sealed.digest,
        api_key_sealed: sealed.sealed,
        date_joined: NOW,
        ...extra,
      })
      .execute();
    accounts[email.split("@")[0] as string] = { id, email, key, password };
  }
  const token = generateApiKey();
  const sealedToken = vault.seal(token);
  await db
    .insertInto("bot_services")
    .values({
      bot_user_id: 6,
      base_url: "https://hooks.example.com/in",
      interface: 1,
      token_digest: sealedToken.digest,
      token_sealed: sealedToken.sealed,
    })
    .execute();
  const sessionId = "old-session-id-kept-across-the-upgrade-0123456789";
  await db
    .insertInto("web_sessions")
    .values({
      id_hash: createHash("sha256").update(sessionId).digest("hex"),
      user_id: 1,
      created_at: NOW,
      expires_at: NOW + 86_400_000,
    })
    .execute();
  await db
    .insertInto("audit_log")
    .values([
      {
        realm_id: 1,
        acting_user_id: null,
        modified_user_id: 1,
        event_type: 101,
        event_time: NOW - 2000,
        ip: null,
        client: "latchkey-cli",
        extra_data: "{}",
      },
      {
        realm_id: 1,
        acting_user_id: 1,
        modified_user_id: 1,
        event_type: 127,
        event_time: NOW - 1000,
        ip: "203.0.113.5",
        client: "ZulipMobile",
        extra_data: "{}",
      },
    ])
    .execute();
  await db
    .insertInto("push_device_tokens")
    .values({ user_id: 1, kind: 2, token: "old-android-token", ios_app_id: null, date_created: NOW })
    .execute();
  const annDigest = vault.digest(accounts.ann?.key as string);
  await db
    .insertInto("api_key_last_use")
    .values({ key_digest: annDigest, user_id: 1, used_at: NOW - 5000, ip: "203.0.113.5", client: "ZulipMobile" })
    .execute();
  return { accounts, token, sessionId, annDigest };
}

async function upgradeAndCheck(dir: string, databaseUrl: string, build: () => Promise<void>): Promise<void> {
  const env = nodeEnv(dir, { LATCHKEY_DATABASE_URL: databaseUrl });
  await build();
  const secrets = loadOrCreateSecrets(join(dir, "secrets.json"));
  const vault = new KeyVault(secrets.hmacPepper, secrets.keySealingKey);
  const old = await openOld(databaseUrl);
  const { accounts, token, sessionId, annDigest } = await fill(old, vault);
  await old.destroy();

  // Today's migrations, on request, each named.
  const added = Object.keys(MIGRATIONS)
    .filter((n) => !RELEASED_0_1_0.includes(n))
    .sort();
  const migrated = await runCli(env, ["migrate"]);
  assert.equal(migrated.code, 0, migrated.stderr);
  const total = Object.keys(MIGRATIONS).length;
  assert.equal(
    migrated.stdout,
    added.length === 0
      ? `Nothing to apply: the database has all ${total} migrations.\n`
      : `${added.map((n) => `Applied ${n}.\n`).join("")}The database is up to date: ${total} migrations, ${added.length} applied now.\n`,
  );
  const again = await runCli(env, ["migrate"]);
  assert.equal(again.stdout, `Nothing to apply: the database has all ${total} migrations.\n`);

  // What no request shows, read with today's stores.
  const database = await openDatabase(databaseUrl);
  const ctx = createContext({ config: testConfig("production"), database, secrets });
  const audit = await ctx.stores.auditLog.list(1, 10);
  assert.deepEqual(
    audit.map((e) => [e.eventType, e.client]),
    [
      [127, "ZulipMobile"],
      [101, "latchkey-cli"],
    ],
  );
  assert.deepEqual(
    (await ctx.stores.pushDevices.list(1)).map((d) => d.token),
    ["old-android-token"],
  );
  assert.equal((await ctx.stores.keyUses.find(annDigest))?.client, "ZulipMobile");

  const node = await startNode(env);
  try {
    const me = (email: string, key: string) => call(node.port, "/api/v1/users/me", { headers: basicAuth(email, key) });
    for (const name of ["ann", "bob", "cat", "helper-bot", "hook-bot"]) {
      const account = accounts[name] as OldAccount;
      const answer = await me(account.email, account.key);
      assert.equal(answer.status, 200, `${name}: ${answer.body}`);
      assert.equal(answer.json().email, account.email);
    }
    const dan = await me(accounts.dan?.email as string, accounts.dan?.key as string);
    assert.equal(dan.status, 401);
    assert.equal(dan.json().msg, "Account is deactivated");

    for (const name of ["ann", "bob", "cat"]) {
      const account = accounts[name] as OldAccount;
      for (let i = 0; i < 2; i++) {
        const login = await call(node.port, "/api/v1/fetch_api_key", {
          method: "POST",
          body: new URLSearchParams({ username: account.email, password: account.password as string }).toString(),
        });
        assert.equal(login.status, 200, `${name}: ${login.body}`);
        assert.equal(login.json().api_key, account.key, `${name} logs in to the key they had`);
      }
    }
    // The imported Django hashes were replaced by Argon2id at the first login.
    for (const name of ["bob", "cat"]) {
      const user = await ctx.stores.users.findById(accounts[name]?.id as number);
      assert.match(user?.passwordHash ?? "", /^\$argon2id\$/);
    }

    const page = await call(node.port, "/settings/account", { headers: { cookie: `sessionid=${sessionId}` } });
    assert.equal(page.status, 200, "the web session survives the upgrade");
    assert.match(page.body, /ann@example\.com/);
    assert.equal((await call(node.port, "/settings/account")).status, 302);
  } finally {
    await node.stop("SIGKILL");
  }
  const zuliprc = await runCli(env, ["zuliprc", "hook-bot@testserver"]);
  assert.equal(zuliprc.code, 0, zuliprc.stderr);
  assert.match(zuliprc.stdout, new RegExp(`^key=${accounts["hook-bot"]?.key}$`, "m"));
  assert.match(zuliprc.stdout, new RegExp(`^token=${token}$`, "m"));

  // A database a newer version migrated: serve refuses it, saying why.
  await sql`INSERT INTO kysely_migration (name, timestamp) VALUES (${"9999_from_a_newer_version"}, ${new Date().toISOString()})`.execute(
    database.db,
  );
  await database.close();
  const refused = await runCli(env, ["serve"]);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    "latchkey: the database was upgraded by a newer Latchkey (migrations this version does not know: 9999_from_a_newer_version); run that version or newer\n",
  );
  const refusedMigrate = await runCli(env, ["migrate"]);
  assert.equal(refusedMigrate.code, 1);
}

// biome-ignore lint/suspicious/noExplicitAny: the old schema has no type of its own in today's code.
async function openOld(databaseUrl: string): Promise<Kysely<any>> {
  if (!databaseUrl.startsWith("postgres"))
    return new Kysely({ dialect: new SqliteDialect({ database: new SQLite(databaseUrl) }) });
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get("schema") as string;
  url.searchParams.delete("schema");
  const pool = new pg.Pool({ connectionString: url.toString(), options: `-c search_path=${schema}` });
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}

describe("upgrade from the first release", () => {
  test("a 0.1.0 SQLite database upgrades, and every old key, password, bot and session works", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-upgrade-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "latchkey.sqlite");
    await upgradeAndCheck(dir, file, async () => {
      const sqlite = new SQLite(file);
      sqlite.exec(readFileSync(join(FIXTURES, "schema-0.1.0.sqlite.sql"), "utf8"));
      sqlite.close();
    });
  });

  test("a 0.1.0 PostgreSQL database upgrades, and every old key, password, bot and session works", async (t) => {
    const postgres = await freshPostgresUrl();
    if (postgres === null) return;
    const dir = mkdtempSync(join(tmpdir(), "latchkey-upgrade-"));
    t.after(async () => {
      await postgres.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    await upgradeAndCheck(dir, postgres.url, async () => {
      const url = new URL(postgres.url);
      const schema = url.searchParams.get("schema") as string;
      url.searchParams.delete("schema");
      const admin = new pg.Client({ connectionString: url.toString() });
      await admin.connect();
      await admin.query(readFileSync(join(FIXTURES, "schema-0.1.0.postgres.sql"), "utf8").replaceAll("{{schema}}", schema));
      await admin.end();
    });
  });
});
