/**
 * Password hashing runs off the event loop with bounded concurrency: while a storm of slow
 * logins waits for the hasher, requests that only check an API key are answered at once.
 * Checked by order of completion, not by time. The queue is bounded: beyond LATCHKEY_HASH_QUEUE_MAX
 * waiting hashes a login is refused at once, work for a client that left is dropped, and a stored
 * hash that asks for too much work is refused unchecked.
 */
import assert from "node:assert/strict";
import { type AddressInfo, connect } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { Argon2Hasher } from "../../src/auth/password-hasher.js";
import { OWASP_ARGON2_FLOOR } from "../../src/config.js";
import { createLogger } from "../../src/logging.js";
import { basic, FAST_ARGON2, form, makeTestServer, PASSWORD } from "../helper.js";
import { InjectBrowser, pageError } from "../web/web-helper.js";

test("users/me answers while twenty logins are still queued for the hasher", async (t) => {
  // Production-grade cost, one hash at a time: the logins take a while to drain.
  const argon2 = new Argon2Hasher(OWASP_ARGON2_FLOOR, 1);
  const server = await makeTestServer({ hasher: argon2 });
  t.after(() => server.close());
  // The dummy hash is made once, on first use; make it now so the storm is all verifications.
  await argon2.verifyDummy("warm-up");
  const finished: string[] = [];
  const logins = Array.from({ length: 20 }, (_, i) =>
    server.app
      .inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: `storm${i}@zulip.com`, password: "guess" }) })
      .then((res) => {
        finished.push("login");
        return res;
      }),
  );
  // Let every login reach the hasher.
  for (let i = 0; i < 10_000 && server.hasher.work < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(server.hasher.work, 20);
  assert.ok(argon2.pending > 1, "the logins are waiting their turn");

  const key = server.keys.get(server.hamlet.id) as string;
  for (let i = 0; i < 5; i++) {
    const res = await server.app.inject({
      method: "GET",
      url: "/api/v1/users/me",
      headers: { authorization: basic("hamlet@zulip.com", key) },
    });
    finished.push("users/me");
    assert.equal(res.statusCode, 200);
  }
  // Every key check finished while logins were still waiting for the hasher.
  assert.ok(argon2.pending > 0, "the hasher queue drained before the key checks finished");
  assert.ok(finished.filter((f) => f === "login").length < 20);

  for (const res of await Promise.all(logins)) assert.equal(res.statusCode, 401);
  assert.equal(finished.lastIndexOf("users/me") < finished.length - 1, true);
  assert.equal(server.hasher.work, 20);
});

/** A stored Argon2id hash that takes its one hashing thread a few seconds: the queue fills behind it. */
async function blockTheHasher(argon2: Argon2Hasher): Promise<{ done: Promise<unknown> }> {
  const slow = { memoryCost: 65536, timeCost: 16, parallelism: 1 };
  const heavy = await new Argon2Hasher(slow, 1).hash("blocker");
  const done = argon2.verify(heavy, "blocker");
  for (let i = 0; i < 10_000 && argon2.stats().running === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(argon2.stats().running, 1, "the blocker holds the only hashing thread");
  return { done };
}

test("a storm beyond the hash queue's bound gets immediate 503s with Retry-After while users/me keeps answering", async (t) => {
  // One hashing thread and room for four waiting hashes, as LATCHKEY_HASH_QUEUE_MAX=4 would give.
  const argon2 = new Argon2Hasher(FAST_ARGON2, 1, 10, 4);
  const server = await makeTestServer({ hasher: argon2, env: { LATCHKEY_TRUSTED_PROXIES: "loopback" } });
  t.after(() => server.close());
  await argon2.verifyDummy("warm-up");
  const blocker = await blockTheHasher(argon2);
  const events: string[] = [];
  void blocker.done.then(() => events.push("blocker done"));

  // Thirty logins for thirty usernames from thirty addresses behind the trusted proxy.
  const storm = Array.from({ length: 30 }, (_, i) =>
    server.app
      .inject({
        method: "POST",
        url: "/api/v1/fetch_api_key",
        ...form({ username: `storm${i}@zulip.com`, password: "guess" }),
        headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": `198.51.100.${i + 1}` },
      })
      .then((res) => {
        events.push(`login ${res.statusCode}`);
        return res;
      }),
  );
  // Everything beyond the bound is answered while the blocker still runs.
  for (let i = 0; i < 100_000 && events.filter((e) => e === "login 503").length < 26; i++) {
    await new Promise((r) => setImmediate(r));
  }
  const key = server.keys.get(server.hamlet.id) as string;
  for (let i = 0; i < 5; i++) {
    const me = await server.app.inject({
      method: "GET",
      url: "/api/v1/users/me",
      headers: { authorization: basic("hamlet@zulip.com", key) },
    });
    assert.equal(me.statusCode, 200);
    events.push("users/me 200");
  }
  assert.equal(argon2.stats().running, 1, "the blocker is still running");
  assert.equal(events.includes("blocker done"), false);

  const answers = await Promise.all(storm);
  await blocker.done;
  const refused = answers.filter((res) => res.statusCode === 503);
  assert.equal(refused.length, 26);
  assert.equal(answers.filter((res) => res.statusCode === 401).length, 4, "the four that waited were checked");
  for (const res of refused) {
    const body = res.json() as Record<string, unknown>;
    assert.equal(body.code, "SERVICE_UNAVAILABLE");
    assert.equal(body.msg, "Too many logins are waiting to be checked; please try again later.");
    assert.equal(typeof body["retry-after"], "number");
    assert.equal(res.headers["retry-after"], String(body["retry-after"]));
  }
  // The refused attempts were turned away before anything else: no budget spent, no verification.
  assert.equal(argon2.stats().refused, 26);
  const first503 = events.indexOf("login 503");
  assert.ok(first503 < events.indexOf("blocker done") && events.indexOf("users/me 200") < events.indexOf("blocker done"));
});

test("while the hash queue is full a login is refused before its body is read: a malformed or oversized one gets the 503 too", async (t) => {
  const argon2 = new Argon2Hasher(FAST_ARGON2, 1, 10, 4);
  const server = await makeTestServer({ hasher: argon2 });
  t.after(() => server.close());
  await argon2.verifyDummy("warm-up");
  const blocker = await blockTheHasher(argon2);
  const waiting = Array.from({ length: 4 }, (_, i) =>
    server.app.inject({
      method: "POST",
      url: "/api/v1/fetch_api_key",
      ...form({ username: `wait${i}@zulip.com`, password: "guess" }),
    }),
  );
  for (let i = 0; i < 100_000 && argon2.stats().queued < 4; i++) await new Promise((r) => setImmediate(r));
  assert.equal(argon2.stats().queued, 4, "the queue is full");

  const oversized = { "content-type": "application/x-www-form-urlencoded" };
  const bad = [
    { url: "/api/v1/fetch_api_key", headers: oversized, payload: `username=${"a".repeat(70 * 1024)}&password=x` },
    { url: "/api/v1/fetch_api_key", headers: { "content-type": "text/csv" }, payload: "username,password" },
    { url: "/json/fetch_api_key", headers: oversized, payload: `username=${"a".repeat(70 * 1024)}&password=x` },
  ];
  for (const request of bad) {
    const res = await server.app.inject({ method: "POST", ...request });
    assert.equal(res.statusCode, 503, request.url);
    assert.equal((res.json() as { code: string }).code, "SERVICE_UNAVAILABLE");
    assert.ok(Number(res.headers["retry-after"]) > 0);
  }
  await blocker.done;
  await Promise.all(waiting);
  // With room in the queue the same requests are read, and refused for what they are.
  const tooLarge = await server.app.inject({ method: "POST", ...(bad[0] as (typeof bad)[0]) });
  assert.equal(tooLarge.statusCode, 413);
  const wrongType = await server.app.inject({ method: "POST", ...(bad[1] as (typeof bad)[0]) });
  assert.notEqual(wrongType.statusCode, 503);
  assert.equal(wrongType.statusCode >= 400 && wrongType.statusCode < 500, true);
});

test("a login whose client hangs up while it waits for the hasher is dropped before it starts", async (t) => {
  const argon2 = new Argon2Hasher(FAST_ARGON2, 1, 10, 4);
  const server = await makeTestServer({ hasher: argon2 });
  t.after(() => server.close());
  await argon2.verifyDummy("warm-up");
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  const blocker = await blockTheHasher(argon2);
  const startedBefore = argon2.stats().started;

  const body = new URLSearchParams({ username: "hamlet@zulip.com", password: "guess" }).toString();
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  socket.write(
    `POST /api/v1/fetch_api_key HTTP/1.1\r\nHost: testserver\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  for (let i = 0; i < 100_000 && argon2.stats().queued === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(argon2.stats().queued, 1, "the login waits behind the blocker");
  socket.destroy();
  for (let i = 0; i < 100_000 && argon2.stats().dropped === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(argon2.stats().dropped, 1);
  assert.equal(argon2.stats().queued, 0);
  await blocker.done;
  assert.equal(argon2.stats().started, startedBefore, "the dropped login never reached a hashing thread");
  // The next login is checked as usual.
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "hamlet@zulip.com", password: PASSWORD }),
  });
  assert.equal(res.statusCode, 200);
});

test("a stored hash above the parameter ceiling is refused as a failed login at one verification, and logged", async (t) => {
  const lines: string[] = [];
  const logger = createLogger(
    "warn",
    new Writable({ write: (chunk: Buffer, _encoding, done) => done(void lines.push(chunk.toString("utf8"))) }),
  );
  const server = await makeTestServer({ logger });
  t.after(() => server.close());
  // 2 GiB of memory and 1,000 passes: checking it for real would hold a thread for minutes.
  const monster = "$argon2id$v=19$m=2097152,t=1000,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
  await server.ctx.stores.users.update(server.hamlet.id, { passwordHash: monster });
  const before = server.hasher.work;
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "hamlet@zulip.com", password: "anything" }),
  });
  assert.equal(res.statusCode, 401);
  assert.equal((res.json() as Record<string, unknown>).code, "AUTHENTICATION_FAILED");
  assert.equal(server.hasher.work - before, 1);
  const warnings = lines.map((line) => JSON.parse(line) as { msg: string; userId?: number; reqId?: string });
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]?.msg, "stored password hash asks for more work than the ceiling; login refused");
  assert.equal(warnings[0]?.userId, server.hamlet.id);
  assert.equal(warnings[0]?.reqId, res.headers["x-request-id"]);
});

test("the web login form answers a full hash queue with a page, 503 and Retry-After", async (t) => {
  // No room to wait at all: while the blocker runs, every login is turned away.
  const argon2 = new Argon2Hasher(FAST_ARGON2, 1, 10, 0);
  const server = await makeTestServer({ hasher: argon2 });
  t.after(() => server.close());
  await argon2.verifyDummy("warm-up");
  const blocker = await blockTheHasher(argon2);
  const browser = new InjectBrowser(server.app);
  const res = await browser.login("hamlet@zulip.com", PASSWORD);
  assert.equal(res.statusCode, 503);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.equal(pageError(res.body), "Too many logins are waiting to be checked; please try again later.");
  assert.match(String(res.headers["retry-after"]), /^\d+$/);
  await blocker.done;
  // With the thread free again, the same login goes through.
  assert.equal((await browser.login("hamlet@zulip.com", PASSWORD)).statusCode, 302);
});
