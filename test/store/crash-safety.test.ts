/**
 * A server killed with SIGKILL in the middle of a storm of key regenerations and logins, then
 * started again on the same database: every account has exactly one working key (the one a
 * password login returns), every regeneration that happened has its audit row, and no key the
 * clients ever saw other than that one works. On SQLite and on PostgreSQL.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import { AUDIT_EVENT } from "../../src/domain/audit.js";
import { loadOrCreateSecrets } from "../../src/secrets.js";
import { openDatabase } from "../../src/store/database.js";
import { basicAuth, call, type NodeProcess, nodeEnv, startNode } from "../cluster-helper.js";
import { freshPostgresUrl, testConfig } from "../helper.js";

const PASSWORD = "Storm-Passw0rd-42";
const USERS = 12;
const KILL_AFTER_REGENERATIONS = 40;

interface Account {
  email: string;
  userId: number;
  /** Every key a client was given for this account, in order. */
  seen: string[];
  /** Regenerations answered 200. */
  regenerated: number;
}

async function seed(dir: string, databaseUrl: string): Promise<{ accounts: Account[]; realmId: number }> {
  const config = testConfig("production", { LATCHKEY_ARGON2_MEMORY_KIB: "19456", LATCHKEY_ARGON2_PARALLELISM: "1" });
  const database = await openDatabase(databaseUrl);
  const ctx = createContext({ config, database, secrets: loadOrCreateSecrets(join(dir, "secrets.json")) });
  const realm = await createRealm(ctx, { subdomain: "", name: "Storm" });
  const accounts: Account[] = [];
  for (let i = 0; i < USERS; i++) {
    const { user, apiKey } = await createAccount(ctx, {
      realmId: realm.id,
      email: `storm${i}@example.com`,
      fullName: `Storm ${i}`,
      password: PASSWORD,
    });
    accounts.push({ email: user.deliveryEmail, userId: user.id, seen: [apiKey], regenerated: 0 });
  }
  await database.close();
  return { accounts, realmId: realm.id };
}

/**
 * Regenerations (one at a time per account, so at most one is in flight for each) and
 * password logins against `node` until `stop()` turns true or the node dies.
 */
async function storm(node: NodeProcess, accounts: Account[], onRegenerated: () => void, stop: () => boolean): Promise<void> {
  const regenerate = async (account: Account): Promise<void> => {
    while (!stop()) {
      const key = account.seen[account.seen.length - 1] as string;
      const answer = await call(node.port, "/api/v1/users/me/api_key/regenerate", {
        method: "POST",
        headers: basicAuth(account.email, key),
      });
      assert.equal(answer.status, 200, answer.body);
      account.seen.push((answer.json() as { api_key: string }).api_key);
      account.regenerated++;
      onRegenerated();
    }
  };
  const login = async (offset: number): Promise<void> => {
    for (let i = offset; !stop(); i++) {
      const account = accounts[i % accounts.length] as Account;
      const answer = await call(node.port, "/api/v1/fetch_api_key", {
        method: "POST",
        body: new URLSearchParams({ username: account.email, password: PASSWORD }).toString(),
      });
      assert.equal(answer.status, 200, answer.body);
    }
  };
  // A request cut by the kill rejects; everything before it was checked.
  await Promise.allSettled([...accounts.map(regenerate), login(0), login(5)]);
}

async function crashAndCheck(dir: string, databaseUrl: string): Promise<void> {
  const { accounts, realmId } = await seed(dir, databaseUrl);
  const env = nodeEnv(dir, {
    LATCHKEY_DATABASE_URL: databaseUrl,
    // The storm's logins are work for the server, not throttled guesses.
    LATCHKEY_RATE_LIMIT_AUTH: "3600:100",
    LATCHKEY_RATE_LIMIT_IP: "1:100000",
  });
  const node = await startNode(env);
  let regenerations = 0;
  let killed = false;
  let stormDone: Promise<void> = Promise.resolve();
  await new Promise<void>((resolve) => {
    stormDone = storm(
      node,
      accounts,
      () => {
        if (++regenerations === KILL_AFTER_REGENERATIONS) {
          // Mid-storm: every account has a regeneration or a login on the wire.
          killed = true;
          node.child.kill("SIGKILL");
          resolve();
        }
      },
      () => killed,
    );
  });
  await stormDone;
  assert.equal(await node.stop(), null, "the node died of SIGKILL");

  const restarted = await startNode(env);
  try {
    const database = await openDatabase(databaseUrl);
    const ctx = createContext({
      config: testConfig("production"),
      database,
      secrets: loadOrCreateSecrets(join(dir, "secrets.json")),
    });
    const audit = await ctx.stores.auditLog.list(realmId, 100_000);
    await database.close();
    for (const account of accounts) {
      const login = await call(restarted.port, "/api/v1/fetch_api_key", {
        method: "POST",
        body: new URLSearchParams({ username: account.email, password: PASSWORD }).toString(),
      });
      assert.equal(login.status, 200, login.body);
      const current = (login.json() as { api_key: string }).api_key;
      assert.equal((await call(restarted.port, "/api/v1/users/me", { headers: basicAuth(account.email, current) })).status, 200);
      for (const old of account.seen.filter((k) => k !== current)) {
        const refused = await call(restarted.port, "/api/v1/users/me", { headers: basicAuth(account.email, old) });
        assert.equal(refused.status, 401, `${account.email}: an old key still works`);
      }
      // A regeneration cut by the kill either committed whole (a key no client saw, and its
      // audit row) or not at all.
      const unseenCommit = account.seen.includes(current) ? 0 : 1;
      if (unseenCommit === 0)
        assert.equal(current, account.seen[account.seen.length - 1], `${account.email}: the newest key is the valid one`);
      const rows = audit.filter((e) => e.modifiedUserId === account.userId && e.eventType === AUDIT_EVENT.USER_API_KEY_CHANGED);
      assert.equal(rows.length, account.regenerated + unseenCommit, `${account.email}: one audit row per regeneration`);
    }
    assert.ok(accounts.reduce((n, a) => n + a.regenerated, 0) >= KILL_AFTER_REGENERATIONS);
  } finally {
    await restarted.stop("SIGKILL");
  }
}

describe("crash safety", () => {
  test("SIGKILL during a storm of regenerations and logins, on SQLite", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-crash-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    await crashAndCheck(dir, join(dir, "latchkey.sqlite"));
  });

  test("SIGKILL during a storm of regenerations and logins, on PostgreSQL", async (t) => {
    const pg = await freshPostgresUrl();
    if (pg === null) return;
    const dir = mkdtempSync(join(tmpdir(), "latchkey-crash-"));
    t.after(async () => {
      await pg.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    await crashAndCheck(dir, pg.url);
  });
});
