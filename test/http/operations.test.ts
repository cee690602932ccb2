/**
 * Operations: `/health/live` and `/health/ready`, Prometheus metrics at `/metrics` (on in
 * development, off in production unless asked for), and the request id on log lines written by
 * code that is not handed the request's logger.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { syncKeyCacheOverRedis } from "../../src/store/cache-sync.js";
import { freePort, pollUntil } from "../cluster-helper.js";
import { basic, form, makeTestServer, PASSWORD } from "../helper.js";

/** The value of one sample of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const m = /^(?:\{([^}]*)\})? (\S+)$/.exec(rest);
    if (m === null) continue;
    const have = Object.fromEntries(
      (m[1] ?? "")
        .split(",")
        .filter((p) => p !== "")
        .map((p) => {
          const [k, v] = p.split("=");
          return [k, JSON.parse(v as string)];
        }),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return undefined;
}

test("health: live answers; ready checks the database and says whether the key cache is trusted", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const live = await server.app.inject({ method: "GET", url: "/health/live" });
  assert.equal(live.statusCode, 200);
  assert.deepEqual(live.json(), { status: "ok" });
  const ready = await server.app.inject({ method: "GET", url: "/health/ready" });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: "ok", checks: { database: "ok" }, key_cache: "trusted" });

  server.ctx.keyCache.channelLost();
  assert.equal((await server.app.inject({ method: "GET", url: "/health/ready" })).json().key_cache, "bypassed");
  await server.database.close();
  const down = await server.app.inject({ method: "GET", url: "/health/ready" });
  assert.equal(down.statusCode, 503);
  assert.equal(down.json().status, "unavailable");
  assert.notEqual(down.json().checks.database, "ok");
});

test("metrics: logins by outcome and source, throttle hits by rule, key-cache counters, latency by route", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_AUTH: "1800:3" } });
  t.after(() => server.close());
  const login = (password: string) =>
    server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: "hamlet@zulip.com", password }) });
  assert.equal((await login(PASSWORD)).statusCode, 200);
  assert.equal((await login("wrong")).statusCode, 401);
  assert.equal((await login("wrong")).statusCode, 401);
  assert.equal((await login("wrong")).statusCode, 401);
  assert.equal((await login(PASSWORD)).statusCode, 429);
  const me = () =>
    server.app.inject({
      method: "GET",
      url: "/api/v1/users/me",
      headers: { authorization: basic("iago@zulip.com", server.keys.get(server.iago.id) as string) },
    });
  for (let i = 0; i < 3; i++) assert.equal((await me()).statusCode, 200);
  assert.equal(
    (await server.app.inject({ method: "POST", url: "/api/v1/dev_fetch_api_key", ...form({ username: "iago@zulip.com" }) }))
      .statusCode,
    200,
  );

  const scraped = await server.app.inject({ method: "GET", url: "/metrics" });
  assert.equal(scraped.statusCode, 200);
  assert.match(String(scraped.headers["content-type"]), /^text\/plain/);
  const text = scraped.body;
  assert.equal(sample(text, "latchkey_logins_total", { source: "api", outcome: "success" }), 1);
  assert.equal(sample(text, "latchkey_logins_total", { source: "api", outcome: "refused" }), 3);
  assert.equal(sample(text, "latchkey_logins_total", { source: "api", outcome: "throttled" }), 1);
  assert.equal(sample(text, "latchkey_logins_total", { source: "dev", outcome: "success" }), 1);
  assert.equal(sample(text, "latchkey_throttle_hits_total", { rule: "authenticate_by_account" }), 1);
  assert.equal(sample(text, "latchkey_key_cache_misses_total"), 1);
  assert.equal(sample(text, "latchkey_key_cache_hits_total"), 2);
  assert.equal(sample(text, "latchkey_key_cache_entries"), 1);
  assert.equal(sample(text, "latchkey_invalidation_channel_up"), 1);
  assert.equal(
    sample(text, "latchkey_http_request_duration_seconds_count", { route: "/api/v1/users/me", method: "GET", status: "200" }),
    3,
  );
  assert.equal(
    sample(text, "latchkey_http_request_duration_seconds_count", {
      route: "/api/v1/fetch_api_key",
      method: "POST",
      status: "429",
    }),
    1,
  );
});

test("metrics are off in production unless LATCHKEY_METRICS=on", async (t) => {
  const off = await makeTestServer({ mode: "production" });
  const on = await makeTestServer({ mode: "production", env: { LATCHKEY_METRICS: "on" } });
  t.after(async () => {
    await off.close();
    await on.close();
  });
  assert.equal((await off.app.inject({ method: "GET", url: "/metrics" })).statusCode, 404);
  const scraped = await on.app.inject({ method: "GET", url: "/metrics" });
  assert.equal(scraped.statusCode, 200);
  assert.match(scraped.body, /^latchkey_key_cache_entries 0$/m);
});

test("lines written for a request by code not handed its logger carry the request id", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = {
    info: (obj: object, msg?: string) => lines.push({ ...obj, msg }),
    warn: (obj: object, msg?: string) => lines.push({ ...obj, msg }),
    error: (obj: object, msg?: string) => lines.push({ ...obj, msg }),
  };
  const server = await makeTestServer({ log });
  // As `serve` connects the key cache to the other nodes, through a Redis that cannot be
  // reached: the broadcast of an invalidation a request makes fails after the answer.
  const redis = new Redis({ host: "127.0.0.1", port: await freePort(), lazyConnect: true, enableOfflineQueue: false });
  const sync = await syncKeyCacheOverRedis(redis, server.ctx.keyCache, server.ctx.log);
  t.after(async () => {
    await sync.close();
    redis.disconnect();
    await server.close();
  });
  const answer = await server.app.inject({
    method: "POST",
    url: "/api/v1/users/me/api_key/regenerate",
    headers: { authorization: basic("iago@zulip.com", server.keys.get(server.iago.id) as string) },
  });
  assert.equal(answer.statusCode, 200);
  const broadcast = "could not broadcast a key-cache invalidation; every node will be asked to flush";
  assert.ok(await pollUntil(() => lines.some((l) => l.msg === broadcast), 10_000), "the failed broadcast was logged");
  const failed = lines.find((l) => l.msg === broadcast) as Record<string, unknown>;
  assert.equal(failed.reqId, answer.headers["x-request-id"]);
});
