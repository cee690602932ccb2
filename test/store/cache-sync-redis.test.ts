/**
 * Cross-node key-cache invalidation over Redis pub/sub: two contexts (two nodes) on one
 * PostgreSQL database. A key deactivated on one node is refused on the other as soon as the
 * message arrives; while a node cannot hear Redis, it does not trust its cache at all.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Redis } from "ioredis";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm, setAccountActive } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import { verifyApiKey } from "../../src/domain/verify-api-key.js";
import { ZulipError } from "../../src/errors.js";
import { generateSecrets } from "../../src/secrets.js";
import { type CacheSync, syncKeyCacheOverRedis } from "../../src/store/cache-sync.js";
import { type DatabaseHandle, openDatabase } from "../../src/store/database.js";
import { closeRedis, openRedis } from "../../src/store/redis.js";
import { freshPostgresUrl, testConfig } from "../helper.js";
import { cuttableRedis, testRedis, unreachableRedisUrl, waitUntilReady } from "../redis-helper.js";
import { eventually as eventuallyOutcome, keyOutcome as keyOutcomeFor, keyOutcome as outcomeOf } from "./key-outcome.js";

const quiet = { warn() {}, error() {} };

const ROLE_EMAIL = "iago@zulip.com";
const keyOutcome = (ctx: Context, apiKey: string) => outcomeOf(ctx, apiKey, ROLE_EMAIL);
const eventually = (ctx: Context, apiKey: string, expected: string) => eventuallyOutcome(ctx, apiKey, ROLE_EMAIL, expected);

const redis = await testRedis();
const postgres = redis === null ? null : await freshPostgresUrl();
if (redis !== null && postgres !== null) {
  describe("cache-sync-redis", () => {
    after(async () => {
      await redis.close();
      await postgres.drop();
    });
    const config = testConfig("production");
    const secrets = generateSecrets();

    /** A node: its own database pool, Redis connection, context and cache sync. */
    async function node(client: Redis, channel: string): Promise<{ ctx: Context; db: DatabaseHandle; sync: CacheSync }> {
      const db = await openDatabase(postgres?.url as string);
      const ctx = createContext({ config, database: db, secrets });
      const sync = await syncKeyCacheOverRedis(client, ctx.keyCache, quiet, { channel });
      return { ctx, db, sync };
    }

    async function seed(ctx: Context, email: string): Promise<{ apiKey: string; userId: number }> {
      const realm = (await ctx.stores.realms.findBySubdomain("")) ?? (await createRealm(ctx, { subdomain: "", name: "Zulip" }));
      const { user, apiKey } = await createAccount(ctx, { realmId: realm.id, email, fullName: "Iago", password: null });
      return { apiKey, userId: user.id };
    }

    test("a key deactivated on one node is refused on the other, which had it cached", async (t) => {
      const channel = `${redis.prefix}cache`;
      const a = await node(redis.redis, channel);
      const b = await node(await redis.connect(), channel);
      t.after(async () => {
        for (const n of [a, b]) {
          await n.sync.close();
          await n.db.close();
        }
      });
      const seeded = await seed(a.ctx, "iago@zulip.com");
      assert.equal(await keyOutcome(b.ctx, seeded.apiKey), "ok");
      assert.equal(b.ctx.keyCache.size, 1);
      // Without the message, b would keep answering from its cache.
      assert.equal(await keyOutcome(b.ctx, seeded.apiKey), "ok");

      await setAccountActive(a.ctx, seeded.userId, false);
      assert.equal(await eventually(b.ctx, seeded.apiKey, "Account is deactivated"), "Account is deactivated");

      await setAccountActive(b.ctx, seeded.userId, true);
      assert.equal(await eventually(a.ctx, seeded.apiKey, "ok"), "ok");
    });

    test("a node that cannot hear Redis reads every key from the database, and drops its cache on return", async (t) => {
      const channel = `${redis.prefix}cache-cut`;
      const proxy = await cuttableRedis(redis.url);
      const deafClient = await openRedis(proxy.url, quiet);
      const a = await node(redis.redis, channel);
      const b = await node(deafClient, channel);
      t.after(async () => {
        for (const n of [a, b]) {
          await n.sync.close();
          await n.db.close();
        }
        await closeRedis(deafClient);
        await proxy.close();
      });
      const { apiKey, userId } = await seed(a.ctx, "othello@zulip.com");
      const check = (ctx: Context) => verifyApiKey(ctx, { username: "othello@zulip.com", apiKey, subdomain: "" });
      const cached = () => b.ctx.keyCache.size;
      await check(b.ctx);
      assert.equal(cached(), 1);

      proxy.cut();
      // Wait until the node has seen its connections drop (both were cut at once).
      for (let i = 0; i < 200 && deafClient.status === "ready"; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 20));
      // The message about this change is lost; b must not answer from its cache meanwhile.
      await setAccountActive(a.ctx, userId, false);
      await assert.rejects(check(b.ctx), (err: unknown) => err instanceof ZulipError && err.message === "Account is deactivated");
      await setAccountActive(a.ctx, userId, true);
      await check(b.ctx);

      proxy.restore();
      await waitUntilReady(deafClient);
      // Once subscribed again it caches; a change made now reaches it.
      for (let i = 0; i < 200 && cached() === 0; i++) {
        await check(b.ctx);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(cached(), 1);
      await setAccountActive(a.ctx, userId, false);
      let refused = false;
      for (let i = 0; i < 200 && !refused; i++) {
        refused = await check(b.ctx).then(
          () => false,
          () => true,
        );
        if (!refused) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(refused, true);
    });

    test("a change whose broadcast failed makes every node flush once the sender can publish again", async (t) => {
      const channel = `${redis.prefix}cache-owed`;
      const proxy = await cuttableRedis(redis.url);
      const senderClient = await openRedis(proxy.url, quiet);
      const sender = await node(senderClient, channel);
      const listener = await node(await redis.connect(), channel);
      t.after(async () => {
        for (const n of [sender, listener]) {
          await n.sync.close();
          await n.db.close();
        }
        await closeRedis(senderClient);
        await proxy.close();
      });
      const { apiKey, userId } = await seed(sender.ctx, "desdemona@zulip.com");
      const check = () => keyOutcomeFor(listener.ctx, apiKey, "desdemona@zulip.com");
      assert.equal(await check(), "ok");
      assert.equal(listener.ctx.keyCache.size, 1);

      // Only the sender loses Redis: the listener keeps trusting its cache, and the
      // deactivation's message cannot go out.
      proxy.cut();
      for (let i = 0; i < 200 && senderClient.status === "ready"; i++) await new Promise((r) => setTimeout(r, 10));
      await setAccountActive(sender.ctx, userId, false);
      assert.equal(await check(), "ok", "the listener answers from its cache: it heard nothing");

      proxy.restore();
      await waitUntilReady(senderClient);
      // Within the test's bound (well under the cache's 30-s lifetime), the sender's request to
      // flush reaches the listener.
      let outcome = "";
      for (let i = 0; i < 100 && outcome !== "Account is deactivated"; i++) {
        outcome = await check();
        if (outcome !== "Account is deactivated") await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(outcome, "Account is deactivated");
    });
  });
}

test("with Redis unreachable from the start, the key cache is bypassed rather than trusted", async (t) => {
  const client = await openRedis(await unreachableRedisUrl(), quiet);
  const db = await openDatabase(":memory:");
  const ctx = createContext({ config: testConfig("production"), database: db, secrets: generateSecrets() });
  const sync = await syncKeyCacheOverRedis(client, ctx.keyCache, quiet, { channel: "latchkey-test:nowhere" });
  t.after(async () => {
    await sync.close();
    await closeRedis(client);
    await db.close();
  });
  const realm = await createRealm(ctx, { subdomain: "", name: "Zulip" });
  const { user, apiKey } = await createAccount(ctx, {
    realmId: realm.id,
    email: "iago@zulip.com",
    fullName: "Iago",
    password: null,
  });
  assert.equal(await keyOutcome(ctx, apiKey), "ok");
  // Another process's change (applied straight to the store: no local invalidation).
  await ctx.stores.users.update(user.id, { isActive: false });
  assert.equal(await keyOutcome(ctx, apiKey), "Account is deactivated");
});
