/**
 * Zulip's per-user and per-address API limits (docs/zulip-rules.md §4.6) and their response shape (§4.5): 429
 * RATE_LIMIT_HIT with `retry-after`, `Retry-After`, and X-RateLimit-* on every response a limit
 * applied to. Client addresses come from X-Forwarded-For only through trusted proxies.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { limitPasswordResetEmail } from "../../src/domain/password-reset-throttle.js";
import { ConfigError } from "../../src/env.js";
import { ZulipError } from "../../src/errors.js";
import { addressRateKey } from "../../src/http/client-address.js";
import { basic, form, json, makeTestServer, PASSWORD, type TestServer, testConfig } from "../helper.js";
import { InjectBrowser } from "../web/web-helper.js";

function usersMe(server: TestServer, user = server.iago, headers: Record<string, string> = {}) {
  return server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { authorization: basic(user.deliveryEmail, server.keys.get(user.id) as string), ...headers },
  });
}

function assertRateLimited(res: LightMyRequestResponse, retryAfter: number): void {
  assert.equal(res.statusCode, 429);
  assert.deepEqual(json(res), {
    result: "error",
    msg: "API usage exceeded rate limit",
    code: "RATE_LIMIT_HIT",
    "retry-after": retryAfter,
  });
  assert.equal(res.headers["retry-after"], String(retryAfter));
  assert.equal(res.headers["x-ratelimit-remaining"], "0");
}

test("users/me: 200 requests a minute per user by default, the 201st is refused, other users unaffected", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (let i = 1; i <= 200; i++) {
    const res = await usersMe(server);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["x-ratelimit-limit"], "200");
    assert.equal(res.headers["x-ratelimit-remaining"], String(200 - i));
    assert.equal(res.headers["x-ratelimit-reset"], String(server.clock.now() / 1000 + 60));
  }
  assertRateLimited(await usersMe(server), 60);
  assert.equal((await usersMe(server, server.hamlet)).statusCode, 200);

  server.clock.advance(30);
  assertRateLimited(await usersMe(server), 30);
  server.clock.advance(30);
  assert.equal((await usersMe(server)).statusCode, 200);
});

test("LATCHKEY_RATE_LIMIT_USER sets the per-user rule; every authenticated response carries the headers", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_USER: "10:2" } });
  t.after(() => server.close());
  const first = await usersMe(server);
  assert.equal(first.headers["x-ratelimit-limit"], "2");
  assert.equal(first.headers["x-ratelimit-remaining"], "1");
  // An unknown /api path with good credentials is authenticated (and counted) before its 404.
  const missing = await server.app.inject({
    method: "GET",
    url: "/api/v1/no_such_endpoint",
    headers: { authorization: basic("iago@zulip.com", server.keys.get(server.iago.id) as string) },
  });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.headers["x-ratelimit-remaining"], "0");
  assertRateLimited(await usersMe(server), 10);
  // A failed key check is not counted against anyone and carries no headers.
  const bad = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { authorization: basic("iago@zulip.com", "x".repeat(32)) },
  });
  assert.equal(bad.statusCode, 401);
  assert.equal(bad.headers["x-ratelimit-limit"], undefined);
});

test("fetch_api_key: 100 requests a minute per address; dev endpoints share the budget; server_settings is not limited", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const post = (url: string, remoteAddress = "203.0.113.7") =>
    server.app.inject({ method: "POST", url, remoteAddress, ...form({}) });
  for (let i = 1; i <= 50; i++) {
    const res = await post("/api/v1/fetch_api_key");
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers["x-ratelimit-remaining"], String(100 - i));
  }
  for (let i = 0; i < 25; i++) assert.equal((await post("/api/v1/dev_fetch_api_key")).statusCode, 400);
  for (let i = 0; i < 25; i++) {
    const res = await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users", remoteAddress: "203.0.113.7" });
    assert.equal(res.statusCode, 200);
  }
  assertRateLimited(await post("/api/v1/fetch_api_key"), 60);
  assertRateLimited(await post("/api/v1/dev_fetch_api_key"), 60);
  // Another address has its own budget; the limited one can still check its settings.
  assert.equal((await post("/api/v1/fetch_api_key", "203.0.113.8")).statusCode, 400);
  for (let i = 0; i < 150; i++) {
    const res = await server.app.inject({ method: "GET", url: "/api/v1/server_settings", remoteAddress: "203.0.113.7" });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["x-ratelimit-limit"], undefined);
  }
  // The refused requests did no work: not one password was hashed.
  assert.equal(server.hasher.work, 0);
});

test("fetch_api_key reports the tighter of its limits: Limit 5 and Remaining from the username throttle", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "wrong" }),
  });
  assert.equal(res.statusCode, 401);
  assert.equal(res.headers["x-ratelimit-limit"], "5");
  assert.equal(res.headers["x-ratelimit-remaining"], "4");
  assert.equal(res.headers["x-ratelimit-reset"], String(server.clock.now() / 1000 + 1800));
});

async function exhaustAddressLimit(server: TestServer, headers: Record<string, string>, remoteAddress = "127.0.0.1") {
  for (let i = 0; i < 3; i++) {
    await server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", headers, remoteAddress });
  }
}

function fetchFrom(server: TestServer, headers: Record<string, string>, remoteAddress = "127.0.0.1") {
  return server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", headers, remoteAddress });
}

test("X-Forwarded-For is ignored unless the connection comes from a trusted proxy", async (t) => {
  const direct = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_IP: "60:3" } });
  t.after(() => direct.close());
  await exhaustAddressLimit(direct, { "x-forwarded-for": "198.51.100.1" });
  // A forged header does not buy a fresh budget.
  assert.equal((await fetchFrom(direct, { "x-forwarded-for": "198.51.100.2" })).statusCode, 429);

  const proxied = await makeTestServer({
    env: { LATCHKEY_RATE_LIMIT_IP: "60:3", LATCHKEY_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8" },
  });
  t.after(() => proxied.close());
  await exhaustAddressLimit(proxied, { "x-forwarded-for": "198.51.100.1" });
  assert.equal((await fetchFrom(proxied, { "x-forwarded-for": "198.51.100.1" })).statusCode, 429);
  assert.equal((await fetchFrom(proxied, { "x-forwarded-for": "198.51.100.2" })).statusCode, 400);
  // Through two trusted hops, the first untrusted address is the client.
  assert.equal((await fetchFrom(proxied, { "x-forwarded-for": "198.51.100.1, 10.1.2.3" })).statusCode, 429);
  // A client that is not a proxy cannot name someone else.
  await exhaustAddressLimit(proxied, {}, "192.0.2.50");
  assert.equal((await fetchFrom(proxied, { "x-forwarded-for": "198.51.100.3" }, "192.0.2.50")).statusCode, 429);
});

test("IPv6 clients are counted by their /64; IPv4-mapped addresses as the IPv4 address", async (t) => {
  assert.equal(addressRateKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(addressRateKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(addressRateKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(addressRateKey("::1"), "0:0:0:0::/64");
  assert.equal(addressRateKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressRateKey("192.0.2.1"), "192.0.2.1");

  const server = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_IP: "60:3" } });
  t.after(() => server.close());
  await exhaustAddressLimit(server, {}, "2001:db8:1:2::10");
  assert.equal((await fetchFrom(server, {}, "2001:db8:1:2::99")).statusCode, 429);
  assert.equal((await fetchFrom(server, {}, "2001:db8:1:3::10")).statusCode, 400);
});

test("password-reset emails: 2 an hour and 5 a day per address, case variants sharing one budget", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const send = () => limitPasswordResetEmail(server.ctx, "Hamlet@Zulip.com");
  await send();
  await limitPasswordResetEmail(server.ctx, "hamlet@zulip.com ");
  const refused = await limitPasswordResetEmail(server.ctx, "HAMLET@zulip.com").then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(refused instanceof ZulipError);
  assert.equal(refused.status, 429);
  assert.deepEqual(refused.toBody(), {
    result: "error",
    msg: "API usage exceeded rate limit",
    code: "RATE_LIMIT_HIT",
    "retry-after": 3600,
  });
  // Another address is unaffected; an hour later two more, then the daily rule refuses.
  assert.equal((await limitPasswordResetEmail(server.ctx, "iago@zulip.com")).limited, false);
  server.clock.advance(3600);
  await send();
  await send();
  server.clock.advance(3600);
  await send();
  await assert.rejects(send(), (err: unknown) => err instanceof ZulipError && err.status === 429);
});

test("the rate-limit variables are validated and named when wrong", () => {
  for (const name of ["LATCHKEY_RATE_LIMIT_USER", "LATCHKEY_RATE_LIMIT_IP", "LATCHKEY_RATE_LIMIT_PASSWORD_RESET"]) {
    assert.throws(
      () => testConfig("production", { [name]: "sixty:200" }),
      (err: unknown) => err instanceof ConfigError && err.variable === name,
    );
  }
  for (const value of ["10.0.0.0/33", "not-an-ip", "::1/129", "1.2.3.4/8/9"]) {
    assert.throws(
      () => testConfig("production", { LATCHKEY_TRUSTED_PROXIES: value }),
      (err: unknown) => err instanceof ConfigError && err.variable === "LATCHKEY_TRUSTED_PROXIES",
    );
  }
  const config = testConfig("production", {
    LATCHKEY_RATE_LIMIT_USER: "60:500",
    LATCHKEY_RATE_LIMIT_IP: "1:9999",
    LATCHKEY_RATE_LIMIT_PASSWORD_RESET: "3600:1",
    LATCHKEY_TRUSTED_PROXIES: "loopback, 10.0.0.0/8, fd00::/8, 192.0.2.1",
  });
  assert.deepEqual(config.userRateRules, [{ windowSeconds: 60, max: 500 }]);
  assert.deepEqual(config.ipRateRules, [{ windowSeconds: 1, max: 9999 }]);
  assert.deepEqual(config.passwordResetRateRules, [{ windowSeconds: 3600, max: 1 }]);
  assert.deepEqual(config.trustedProxies, ["loopback", "10.0.0.0/8", "fd00::/8", "192.0.2.1"]);
  assert.deepEqual(testConfig("production").trustedProxies, []);
});

test("a successful login is counted against the address but clears the username throttle", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (let i = 0; i < 4; i++) {
    await server.app.inject({
      method: "POST",
      url: "/api/v1/fetch_api_key",
      ...form({ username: "iago@zulip.com", password: "x" }),
    });
  }
  const ok = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: PASSWORD }),
  });
  assert.equal(ok.statusCode, 200);
  const next = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "x" }),
  });
  assert.equal(next.statusCode, 401);
  assert.equal(next.headers["x-ratelimit-remaining"], "4");
});

test("the web login form carries the X-RateLimit-* headers of the limits it applied, 429 included", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  const remaining: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await browser.post("/login/", { _csrf, username: "hamlet@zulip.com", password: "wrong" });
    assert.equal(res.statusCode, 401);
    // The username throttle (5 per 30 minutes) is the tighter of the two limits applied.
    assert.equal(res.headers["x-ratelimit-limit"], "5");
    remaining.push(res.headers["x-ratelimit-remaining"] as string);
    assert.match(String(res.headers["x-ratelimit-reset"]), /^\d+$/);
  }
  assert.deepEqual(remaining, ["4", "3", "2", "1", "0"]);
  const limited = await browser.post("/login/", { _csrf, username: "hamlet@zulip.com", password: PASSWORD });
  assert.equal(limited.statusCode, 429);
  assert.ok(limited.headers["retry-after"]);
  assert.equal(limited.headers["x-ratelimit-limit"], "5");
  assert.equal(limited.headers["x-ratelimit-remaining"], "0");
  // Over the per-address limit, the page says so with the same headers.
  const crowded = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_IP: "60:2" } });
  t.after(() => crowded.close());
  const other = new InjectBrowser(crowded.app);
  const token = await other.csrfFrom("/accounts/password/reset/");
  for (let i = 0; i < 2; i++) await other.post("/accounts/password/reset/", { _csrf: token, email: `u${i}@zulip.com` });
  const refused = await other.post("/accounts/password/reset/", { _csrf: token, email: "hamlet@zulip.com" });
  assert.equal(refused.statusCode, 429);
  assert.equal(refused.headers["x-ratelimit-limit"], "2");
  assert.equal(refused.headers["x-ratelimit-remaining"], "0");
  // The API keeps its own headers, written once.
  const api = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: PASSWORD }),
  });
  assert.equal(api.statusCode, 200);
  assert.equal(api.headers["x-ratelimit-limit"], "5");
});
