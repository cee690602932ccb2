/**
 * Cross-node key-cache invalidation over PostgreSQL LISTEN/NOTIFY (no Redis): two servers on
 * one database. A change made through one (or through the CLI, which runs the same domain
 * operations) reaches the other's cache, which had the key cached, before its next answer.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import type { Invalidation } from "../../src/domain/key-cache.js";
import { generateSecrets } from "../../src/secrets.js";
import { syncKeyCache } from "../../src/store/cache-sync.js";
import { openDatabase } from "../../src/store/database.js";
import { basic, CountingHasher, freshPostgresUrl, json, testConfig } from "../helper.js";

const postgres = await freshPostgresUrl();
if (postgres !== null) {
  describe("cache-sync-postgres", () => {
    after(() => postgres.drop());
    const config = testConfig("production");
    const secrets = generateSecrets();
    const quiet = { warn() {}, error() {} };

    interface Node {
      app: FastifyInstance;
      ctx: Context;
      /** Resolves with the next invalidation this node hears from another. */
      nextHeard(): Promise<Invalidation>;
    }

    async function node(t: { after(fn: () => Promise<void>): void }, url = postgres?.url as string): Promise<Node> {
      const database = await openDatabase(url);
      const ctx = createContext({ config, database, secrets, hasher: new CountingHasher() });
      const app = await buildApp({ config, ctx });
      const waiting: ((event: Invalidation) => void)[] = [];
      const apply = ctx.keyCache.apply.bind(ctx.keyCache);
      ctx.keyCache.apply = (event) => {
        apply(event);
        for (const resolve of waiting.splice(0)) resolve(event);
      };
      const sync = await syncKeyCache(database, ctx.keyCache, quiet);
      t.after(async () => {
        await app.close();
        await sync.close();
        await database.close();
      });
      return { app, ctx, nextHeard: () => new Promise((resolve) => waiting.push(resolve)) };
    }

    test("a user deactivated on one node is refused by the other at once; so is a deactivated organization", async (t) => {
      const a = await node(t);
      const b = await node(t);
      const realm = await createRealm(b.ctx, { subdomain: "", name: "Zulip" });
      const { user, apiKey } = await createAccount(b.ctx, {
        realmId: realm.id,
        email: "iago@zulip.com",
        fullName: "Iago",
        password: null,
      });
      const ask = async () =>
        a.app.inject({
          method: "GET",
          url: "/api/v1/users/me",
          headers: { host: "testserver", authorization: basic("iago@zulip.com", apiKey) },
        });
      assert.equal((await ask()).statusCode, 200);
      assert.equal((await ask()).statusCode, 200);
      assert.equal(a.ctx.keyCache.size, 1);

      let heard = a.nextHeard();
      await setAccountActive(b.ctx, user.id, false);
      assert.deepEqual(await heard, { kind: "user", userId: user.id });
      const refused = await ask();
      assert.equal(refused.statusCode, 401);
      assert.equal(json(refused).msg, "Account is deactivated");

      heard = a.nextHeard();
      await setAccountActive(b.ctx, user.id, true);
      await heard;
      assert.equal((await ask()).statusCode, 200);

      heard = a.nextHeard();
      await setRealmDeactivated(b.ctx, realm.id, true);
      assert.deepEqual(await heard, { kind: "realm", realmId: realm.id });
      assert.equal(json(await ask()).msg, "This organization has been deactivated");
    });

    test("deployments in two schemas of one database do not hear each other's invalidations", async (t) => {
      const other = await freshPostgresUrl();
      t.after(() => other?.drop());
      const a = await node(t);
      const b = await node(t);
      const elsewhere = await node(t, other?.url);
      const users = [];
      for (const n of [b, elsewhere]) {
        const realm = await createRealm(n.ctx, { subdomain: "schemas", name: "Zulip" });
        const { user } = await createAccount(n.ctx, {
          realmId: realm.id,
          email: "iago@zulip.com",
          fullName: "Iago",
          password: null,
        });
        users.push(user);
      }
      // The other deployment changes first; the first invalidation `a` hears is still its sibling's.
      const heard = a.nextHeard();
      await setAccountActive(elsewhere.ctx, (users[1] as { id: number }).id, false);
      await setRealmDeactivated(b.ctx, (users[0] as { realmId: number }).realmId, true);
      assert.deepEqual(await heard, { kind: "realm", realmId: (users[0] as { realmId: number }).realmId });
    });
  });
}
