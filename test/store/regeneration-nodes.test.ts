/**
 * A key regenerated on one node is refused by another node sharing the PostgreSQL database,
 * even though that node had it cached (invalidation over LISTEN/NOTIFY).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import { regenerateApiKey } from "../../src/domain/key-lifecycle.js";
import { generateSecrets } from "../../src/secrets.js";
import { syncKeyCache } from "../../src/store/cache-sync.js";
import { openDatabase } from "../../src/store/database.js";
import { freshPostgresUrl, testConfig } from "../helper.js";
import { eventually as eventuallyOutcome, keyOutcome as outcomeOf } from "./key-outcome.js";

const quiet = { warn() {}, error() {} };

const ROLE_EMAIL = "ann@example.com";
const keyOutcome = (ctx: Context, apiKey: string) => outcomeOf(ctx, apiKey, ROLE_EMAIL);
const eventually = (ctx: Context, apiKey: string, expected: string) => eventuallyOutcome(ctx, apiKey, ROLE_EMAIL, expected);

test("a key regenerated on one node is refused on another that had it cached (PostgreSQL)", async (t) => {
  const pg = await freshPostgresUrl();
  if (pg === null) return;
  const config = testConfig("production");
  const secrets = generateSecrets();
  const nodes = await Promise.all(
    [0, 1].map(async () => {
      const database = await openDatabase(pg.url);
      const ctx = createContext({ config, database, secrets });
      const sync = await syncKeyCache(database, ctx.keyCache, quiet);
      return { ctx, database, sync };
    }),
  );
  t.after(async () => {
    for (const n of nodes) {
      await n.sync.close();
      await n.database.close();
    }
    await pg.drop();
  });
  const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
  const realm = await createRealm(a.ctx, { subdomain: "", name: "Nodes" });
  const { user, apiKey } = await createAccount(a.ctx, {
    realmId: realm.id,
    email: "ann@example.com",
    fullName: "Ann",
    password: null,
  });
  assert.equal(await keyOutcome(b.ctx, apiKey), "ok");
  assert.equal(b.ctx.keyCache.size, 1);

  const newKey = await regenerateApiKey(a.ctx, { user, acting: user, source: { ip: null, client: "test" } });
  assert.equal(await keyOutcome(a.ctx, apiKey), "Invalid API key");
  assert.equal(await eventually(b.ctx, apiKey, "Invalid API key"), "Invalid API key");
  assert.equal(await keyOutcome(b.ctx, newKey as string), "ok");
});
