/**
 * With LATCHKEY_REDIS_URL, every node counts against one budget; and when Redis cannot be
 * reached, password logins and reset emails are refused (503) while API-key requests carry on,
 * limited in each process's memory.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import { limitPasswordResetEmail } from "../../src/domain/password-reset-throttle.js";
import { RETRY_SHARED_STORE_MS } from "../../src/domain/rate-limit-policies.js";
import { ZulipError } from "../../src/errors.js";
import { generateSecrets, type Secrets } from "../../src/secrets.js";
import { type DatabaseHandle, openDatabase } from "../../src/store/database.js";
import { closeRedis, openRedis } from "../../src/store/redis.js";
import { basic, CountingHasher, form, json, ManualClock, PASSWORD, testConfig } from "../helper.js";
import { cuttableRedis, testRedis, unreachableRedisUrl, waitUntilReady } from "../redis-helper.js";
import { csrfTokenIn, InjectBrowser, pageError } from "../web/web-helper.js";

interface Node {
  app: FastifyInstance;
  ctx: Context;
  hasher: CountingHasher;
  warnings: string[];
}

interface Cluster {
  database: DatabaseHandle;
  clock: ManualClock;
  apiKey: string;
  node(redis: Redis): Promise<Node>;
  close(): Promise<void>;
}

let clusters = 0;

/** Nodes sharing one database, secrets and clock, each with its own Redis connection. */
async function makeCluster(env: Record<string, string>, basePrefix: string): Promise<Cluster> {
  // Every cluster has user id 1: keep their counts apart.
  const prefix = `${basePrefix}${++clusters}:`;
  const config = testConfig("development", env);
  const database = await openDatabase(":memory:");
  const secrets: Secrets = generateSecrets();
  const clock = new ManualClock();
  const apps: FastifyInstance[] = [];
  const node = async (redis: Redis): Promise<Node> => {
    const warnings: string[] = [];
    const hasher = new CountingHasher();
    const log = { info() {}, warn: (_obj: object, msg?: string) => warnings.push(msg ?? ""), error() {} };
    const ctx = createContext({ config, database, secrets, clock, hasher, redis, redisPrefix: prefix, log });
    const app = await buildApp({ config, ctx });
    apps.push(app);
    return { app, ctx, hasher, warnings };
  };
  const setup = createContext({ config, database, secrets, clock });
  const realm = await createRealm(setup, { subdomain: "", name: "Zulip Dev" });
  const { apiKey } = await createAccount(setup, {
    realmId: realm.id,
    email: "iago@zulip.com",
    fullName: "Iago",
    password: PASSWORD,
  });
  return {
    database,
    clock,
    apiKey,
    node,
    close: async () => {
      for (const app of apps) await app.close();
      await database.close();
    },
  };
}

const login = (node: Node, password: string) =>
  node.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: "iago@zulip.com", password }) });

const usersMe = (node: Node, apiKey: string) =>
  node.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic("iago@zulip.com", apiKey) } });

const redis = await testRedis();
if (redis !== null) {
  describe("shared-limits", () => {
    after(() => redis.close());

    test("two nodes share one username throttle: 3 failures on one and 2 on the other use up all 5", async (t) => {
      const cluster = await makeCluster({}, redis.prefix);
      t.after(() => cluster.close());
      const a = await cluster.node(redis.redis);
      const b = await cluster.node(await redis.connect());
      for (let i = 0; i < 3; i++) assert.equal((await login(a, "wrong")).statusCode, 401);
      for (let i = 0; i < 2; i++) assert.equal((await login(b, "wrong")).statusCode, 401);
      for (const node of [a, b]) {
        const res = await login(node, PASSWORD);
        assert.equal(res.statusCode, 429);
        assert.equal(json(res).code, "RATE_LIMIT_HIT");
        assert.equal(res.headers["retry-after"], "1800");
      }
      // Refused attempts cost no hashing on either node.
      assert.equal(a.hasher.work + b.hasher.work, 5);
    });

    test("two nodes share one per-user budget and one per-address budget", async (t) => {
      const cluster = await makeCluster({ LATCHKEY_RATE_LIMIT_USER: "60:4", LATCHKEY_RATE_LIMIT_IP: "60:3" }, redis.prefix);
      t.after(() => cluster.close());
      const a = await cluster.node(redis.redis);
      const b = await cluster.node(await redis.connect());
      const remaining: string[] = [];
      for (const node of [a, b, a, b]) {
        const res = await usersMe(node, cluster.apiKey);
        assert.equal(res.statusCode, 200);
        remaining.push(res.headers["x-ratelimit-remaining"] as string);
      }
      assert.deepEqual(remaining, ["3", "2", "1", "0"]);
      assert.equal((await usersMe(a, cluster.apiKey)).statusCode, 429);
      assert.equal((await usersMe(b, cluster.apiKey)).statusCode, 429);

      const devList = (node: Node) => node.app.inject({ method: "GET", url: "/api/v1/dev_list_users" });
      assert.equal((await devList(a)).statusCode, 200);
      assert.equal((await devList(b)).statusCode, 200);
      assert.equal((await devList(a)).statusCode, 200);
      assert.equal((await devList(b)).statusCode, 429);
    });

    test("Redis going away: logins refused with 503, key checks carry on, and both recover when it returns", async (t) => {
      const proxy = await cuttableRedis(redis.url);
      t.after(() => proxy.close());
      const client = await openRedis(proxy.url, { warn() {} });
      t.after(() => closeRedis(client));
      const cluster = await makeCluster({ LATCHKEY_RATE_LIMIT_USER: "60:3" }, redis.prefix);
      t.after(() => cluster.close());
      const node = await cluster.node(client);
      assert.equal((await usersMe(node, cluster.apiKey)).headers["x-ratelimit-remaining"], "2");

      proxy.cut();
      const refused = await login(node, PASSWORD);
      assert.equal(refused.statusCode, 503);
      assert.deepEqual(json(refused), {
        result: "error",
        msg: "Password login is temporarily unavailable; please try again later.",
        code: "SERVICE_UNAVAILABLE",
      });
      assert.equal(node.hasher.work, 0);
      // Key checks go on, counted in memory (a fresh count: the shared one is out of reach).
      const during = [];
      for (let i = 0; i < 4; i++) during.push((await usersMe(node, cluster.apiKey)).statusCode);
      assert.deepEqual(during, [200, 200, 200, 429]);
      // One warning per limit (the login's per-address one, the per-user one), not per request.
      assert.equal(node.warnings.filter((w) => w.includes("counting in this process")).length, 2);

      proxy.restore();
      await waitUntilReady(client);
      cluster.clock.ms += RETRY_SHARED_STORE_MS;
      assert.equal((await login(node, PASSWORD)).statusCode, 200);
      const back = await usersMe(node, cluster.apiKey);
      assert.equal(back.statusCode, 200);
      assert.ok(node.warnings.some((w) => w.includes("reachable again")));
    });
  });
}

test("Redis unreachable from the start: logins and reset emails fail closed, API requests do not", async (t) => {
  const client = await openRedis(await unreachableRedisUrl(), { warn() {} });
  t.after(() => closeRedis(client));
  const cluster = await makeCluster({ LATCHKEY_RATE_LIMIT_USER: "60:2" }, "latchkey-test:unreachable:");
  t.after(() => cluster.close());
  const node = await cluster.node(client);

  for (const password of [PASSWORD, "wrong"]) {
    const res = await login(node, password);
    assert.equal(res.statusCode, 503);
    assert.equal(json(res).code, "SERVICE_UNAVAILABLE");
  }
  assert.equal(node.hasher.work, 0);
  // The web forms fail closed too, as pages: no session, no reset email, no hashing.
  const browser = new InjectBrowser(node.app);
  const page = await browser.login("iago@zulip.com", PASSWORD);
  assert.equal(page.statusCode, 503);
  assert.equal(pageError(page.body), "Password login is temporarily unavailable; please try again later.");
  assert.equal(browser.cookies.has("sessionid"), false);
  const _csrf = await browser.csrfFrom("/accounts/password/reset/");
  const reset = await browser.post("/accounts/password/reset/", { _csrf, email: "iago@zulip.com" });
  assert.equal(reset.statusCode, 503);
  assert.match(String(reset.headers["content-type"]), /^text\/html/);
  assert.equal(node.hasher.work, 0);
  await assert.rejects(
    limitPasswordResetEmail(node.ctx, "iago@zulip.com"),
    (err: unknown) => err instanceof ZulipError && err.status === 503 && err.code === "SERVICE_UNAVAILABLE",
  );

  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const res = await usersMe(node, cluster.apiKey);
    statuses.push(res.statusCode);
    assert.equal(res.headers["x-ratelimit-limit"], "2");
  }
  assert.deepEqual(statuses, [200, 200, 429]);
  const dev = await node.app.inject({
    method: "POST",
    url: "/api/v1/dev_fetch_api_key",
    ...form({ username: "iago@zulip.com" }),
  });
  assert.equal(dev.statusCode, 200);
  // A minute on, with the per-user budget back:
  cluster.clock.ms += 61_000;
  // Showing one's key again asks for the password, which cannot be checked either. The browser
  // that dev_fetch_api_key logged in asks, with its session and CSRF token.
  const devBrowser = new InjectBrowser(node.app);
  const session = (dev.cookies as { name: string; value: string }[]).find((c) => c.name === "sessionid");
  assert.ok(session, "dev_fetch_api_key logged the browser in");
  devBrowser.cookies.set("sessionid", session.value);
  const csrf = csrfTokenIn((await devBrowser.get("/settings/account")).body) as string;
  const reveal = await devBrowser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf });
  assert.equal(reveal.statusCode, 503);
  assert.equal(json(reveal).code, "SERVICE_UNAVAILABLE");
});
