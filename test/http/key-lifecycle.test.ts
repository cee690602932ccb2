/**
 * Regenerating one's own API key (docs/zulip-rules.md §7.1, §7.3) and the push-token endpoints (§11): the old key
 * refused at once while cached, tokens gone, one audit event per success, on SQLite and
 * PostgreSQL.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { generateApiKey } from "../../src/domain/api-key.js";
import { AUDIT_EVENT } from "../../src/domain/audit.js";
import { BOT_TYPE, ROLE } from "../../src/domain/model.js";
import { PUSH_KIND } from "../../src/domain/ports.js";
import { basic, form, freshPostgresUrl, json, makeTestServer, type TestServer } from "../helper.js";

const REGENERATE = "/api/v1/users/me/api_key/regenerate";
const APNS = "/api/v1/users/me/apns_device_token";
const FCM = "/api/v1/users/me/android_gcm_reg_id";
const MOBILE_UA = "ZulipMobile/27.1 (Android 14)";
const APNS_TOKEN = `${"c0ffee".repeat(10)}abcd`;

function hamletAuth(server: TestServer): string {
  return basic("hamlet@zulip.com", server.keys.get(server.hamlet.id) as string);
}

async function usersMe(server: TestServer, auth: string) {
  return server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: auth } });
}

async function regenerate(server: TestServer, auth: string) {
  return server.app.inject({
    method: "POST",
    url: REGENERATE,
    headers: { authorization: auth, "user-agent": MOBILE_UA },
    remoteAddress: "203.0.113.7",
  });
}

async function registerTokens(server: TestServer, auth: string): Promise<void> {
  const apns = await server.app.inject({
    method: "POST",
    url: APNS,
    ...withAuth(form({ token: APNS_TOKEN, appid: "org.zulip.Zulip" }), auth),
  });
  assert.equal(apns.statusCode, 200, apns.body);
  const fcm = await server.app.inject({ method: "POST", url: FCM, ...withAuth(form({ token: "fcm-token-1" }), auth) });
  assert.equal(fcm.statusCode, 200, fcm.body);
}

function withAuth(body: { payload: string; headers: Record<string, string> }, auth: string) {
  return { payload: body.payload, headers: { ...body.headers, authorization: auth } };
}

test("regeneration returns a new key; the cached old key fails at once on every path", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const oldAuth = hamletAuth(server);
  // Warm the key cache with the old key.
  assert.equal((await usersMe(server, oldAuth)).statusCode, 200);
  assert.equal((await usersMe(server, oldAuth)).statusCode, 200);

  const res = await regenerate(server, oldAuth);
  assert.equal(res.statusCode, 200, res.body);
  const body = json(res);
  assert.deepEqual(Object.keys(body), ["result", "msg", "api_key"]);
  assert.equal(body.result, "success");
  const newKey = body.api_key as string;
  assert.match(newKey, /^[A-Za-z0-9]{32}$/);
  assert.notEqual(newKey, server.keys.get(server.hamlet.id));

  const stale = await usersMe(server, oldAuth);
  assert.equal(stale.statusCode, 401);
  assert.deepEqual(json(stale), { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" });
  assert.equal(stale.headers["www-authenticate"], 'Basic realm="zulip"');
  // The unknown-path handler checks credentials with the same cache.
  const elsewhere = await server.app.inject({ method: "GET", url: "/api/v1/no_such_thing", headers: { authorization: oldAuth } });
  assert.equal(elsewhere.statusCode, 401);
  const again = await regenerate(server, oldAuth);
  assert.equal(again.statusCode, 401);
  assert.equal(json(again).msg, "Invalid API key");

  const fresh = await usersMe(server, basic("hamlet@zulip.com", newKey));
  assert.equal(fresh.statusCode, 200);
  assert.equal(json(fresh).email, "hamlet@zulip.com");
  // Other users are untouched.
  const iago = await usersMe(server, basic("iago@zulip.com", server.keys.get(server.iago.id) as string));
  assert.equal(iago.statusCode, 200);
});

test("a lookup in flight when the key is regenerated cannot cache the old key again", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const oldAuth = hamletAuth(server);
  // Hold the first lookup of the key between its database read and its return.
  const users = server.ctx.stores.users;
  const read = users.findByApiKeyDigest.bind(users);
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reads = 0;
  users.findByApiKeyDigest = async (digest) => {
    const found = await read(digest);
    if (reads++ === 0) await gate;
    return found;
  };
  const inFlight = usersMe(server, oldAuth);
  while (reads === 0) await new Promise((resolve) => setImmediate(resolve));
  // The regeneration runs in its own transaction's stores, so it is not held.
  const regenerated = await regenerate(server, oldAuth);
  assert.equal(regenerated.statusCode, 200, regenerated.body);
  release();
  // The held request read the old row before the change: it was answered as it would have been.
  assert.equal((await inFlight).statusCode, 200);
  // But it must not have put the old key back in the cache.
  assert.equal((await usersMe(server, oldAuth)).statusCode, 401);
});

test("the /json twin is a JSON 404 and a session cookie alone is a 401", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const twin = await server.app.inject({ method: "POST", url: "/json/users/me/api_key/regenerate" });
  assert.equal(twin.statusCode, 404);
  assert.deepEqual(json(twin), { result: "error", msg: "Not Found", code: "BAD_REQUEST" });
  const cookieOnly = await server.app.inject({
    method: "POST",
    url: REGENERATE,
    headers: { cookie: "sessionid=abc; csrftoken=def" },
  });
  assert.equal(cookieOnly.statusCode, 401);
  assert.deepEqual(json(cookieOnly), {
    result: "error",
    msg: "Not logged in: API authentication or user session required",
    code: "UNAUTHORIZED",
  });
  assert.equal(cookieOnly.headers["www-authenticate"], 'Basic realm="zulip"');
  const get = await server.app.inject({ method: "GET", url: REGENERATE, headers: { authorization: hamletAuth(server) } });
  assert.equal(get.statusCode, 405);
  assert.deepEqual(json(get), { result: "error", msg: "Method Not Allowed", allowed_methods: ["POST"] });
  const wrong = await regenerate(server, basic("hamlet@zulip.com", generateApiKey()));
  assert.equal(wrong.statusCode, 401);
  assert.equal(json(wrong).msg, "Invalid API key");
  // Nothing was regenerated by any of these.
  assert.equal((await usersMe(server, hamletAuth(server))).statusCode, 200);
  assert.deepEqual(await server.ctx.stores.auditLog.list(server.realm.id, 10), []);
});

test("regeneration removes the user's push tokens and writes one audit event", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const auth = hamletAuth(server);
  await registerTokens(server, auth);
  const iagoAuth = basic("iago@zulip.com", server.keys.get(server.iago.id) as string);
  await registerTokens(server, iagoAuth);
  assert.equal((await server.ctx.stores.pushDevices.list(server.hamlet.id)).length, 2);

  server.clock.advance(5);
  const res = await regenerate(server, auth);
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await server.ctx.stores.pushDevices.list(server.hamlet.id), []);
  // Only hamlet's devices are logged out.
  assert.equal((await server.ctx.stores.pushDevices.list(server.iago.id)).length, 2);

  const events = await server.ctx.stores.auditLog.list(server.realm.id, 10);
  assert.equal(events.length, 1);
  const [event] = events;
  assert.equal(event?.eventType, AUDIT_EVENT.USER_API_KEY_CHANGED);
  assert.equal(event?.eventType, 127);
  assert.equal(event?.actingUserId, server.hamlet.id);
  assert.equal(event?.modifiedUserId, server.hamlet.id);
  assert.equal(event?.eventTime, server.clock.now());
  assert.equal(event?.ip, "203.0.113.7");
  assert.equal(event?.client, "ZulipMobile");
});

async function concurrentRegeneration(server: TestServer): Promise<void> {
  const auth = hamletAuth(server);
  await registerTokens(server, auth);
  assert.equal((await usersMe(server, auth)).statusCode, 200);
  const answers = await Promise.all(Array.from({ length: 8 }, () => regenerate(server, auth)));
  const successes = answers.filter((r) => r.statusCode === 200);
  const failures = answers.filter((r) => r.statusCode !== 200);
  // Every request carried the same key: only the first to commit may replace it.
  assert.equal(successes.length, 1);
  for (const r of failures) {
    assert.equal(r.statusCode, 401, r.body);
    assert.deepEqual(json(r), { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" });
  }
  const events = await server.ctx.stores.auditLog.list(server.realm.id, 100);
  assert.equal(events.filter((e) => e.eventType === AUDIT_EVENT.USER_API_KEY_CHANGED).length, successes.length);
  const newKey = json(successes[0] as (typeof answers)[number]).api_key as string;
  assert.equal((await usersMe(server, basic("hamlet@zulip.com", newKey))).statusCode, 200);
  assert.equal((await usersMe(server, auth)).statusCode, 401);
  assert.deepEqual(await server.ctx.stores.pushDevices.list(server.hamlet.id), []);

  // Chains of regenerations, each with the key the last one returned, race with each other:
  // at the end exactly one of the returned keys works, and each success left one event.
  const returned: string[] = [newKey];
  const chain = async () => {
    for (let i = 0; i < 3; i++) {
      const current = returned[returned.length - 1] as string;
      const r = await regenerate(server, basic("hamlet@zulip.com", current));
      if (r.statusCode === 200) returned.push(json(r).api_key as string);
    }
  };
  await Promise.all([chain(), chain(), chain()]);
  let valid = 0;
  for (const key of returned) if ((await usersMe(server, basic("hamlet@zulip.com", key))).statusCode === 200) valid++;
  assert.equal(valid, 1);
  const all = await server.ctx.stores.auditLog.list(server.realm.id, 100);
  assert.equal(all.length, returned.length);
}

test("concurrent regenerations leave one valid key and one audit event per success (SQLite)", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await concurrentRegeneration(server);
});

test("concurrent regenerations leave one valid key and one audit event per success (PostgreSQL)", async (t) => {
  const pg = await freshPostgresUrl();
  if (pg === null) return;
  const server = await makeTestServer({ databaseUrl: pg.url });
  t.after(async () => {
    await server.close();
    await pg.drop();
  });
  await concurrentRegeneration(server);
});

test("push tokens: Zulip's parameters, validation and messages", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const auth = hamletAuth(server);
  const send = (method: "POST" | "DELETE", url: string, fields: Record<string, string>, as = auth) =>
    server.app.inject({ method, url, ...withAuth(form(fields), as) });
  const expectError = async (p: ReturnType<typeof send>, msg: string, extra: Record<string, unknown> = {}) => {
    const res = await p;
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(json(res), { result: "error", msg, code: "BAD_REQUEST", ...extra });
  };

  const missing = await send("POST", APNS, { appid: "org.zulip.Zulip" });
  assert.deepEqual(json(missing), {
    result: "error",
    msg: "Missing 'token' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "token",
  });
  const noAppId = await send("POST", APNS, { token: APNS_TOKEN });
  assert.equal(json(noAppId).msg, "Missing 'appid' argument");
  await expectError(send("POST", APNS, { token: APNS_TOKEN, appid: "org zulip" }), "appid has invalid format");
  await expectError(send("POST", APNS, { token: "", appid: "org.zulip.Zulip" }), "Empty or invalid length token");
  await expectError(send("POST", FCM, { token: "x".repeat(4097) }), "Empty or invalid length token");
  await expectError(send("POST", APNS, { token: "abcde", appid: "org.zulip.Zulip" }), "Invalid APNS token");
  await expectError(send("DELETE", FCM, { token: "never-registered" }), "Token does not exist");
  await expectError(send("DELETE", APNS, { token: "" }), "Empty or invalid length token");
  assert.deepEqual(await server.ctx.stores.pushDevices.list(server.hamlet.id), []);

  // Adding is idempotent; removing takes the one token away.
  for (let i = 0; i < 2; i++) {
    const ok = await send("POST", APNS, { token: APNS_TOKEN, appid: "org.zulip.Zulip" });
    assert.deepEqual(json(ok), { result: "success", msg: "" });
  }
  assert.equal((await send("POST", FCM, { token: "fcm-1" })).statusCode, 200);
  assert.deepEqual(await server.ctx.stores.pushDevices.list(server.hamlet.id), [
    { kind: PUSH_KIND.apns, token: APNS_TOKEN, iosAppId: "org.zulip.Zulip" },
    { kind: PUSH_KIND.fcm, token: "fcm-1", iosAppId: null },
  ]);
  // A token of one kind is not removed through the other kind's endpoint.
  await expectError(send("DELETE", APNS, { token: "fcm-1" }), "Token does not exist");
  await expectError(send("DELETE", FCM, { token: APNS_TOKEN }), "Token does not exist");
  assert.deepEqual(json(await send("DELETE", FCM, { token: "fcm-1" })), { result: "success", msg: "" });
  assert.deepEqual(json(await send("DELETE", APNS, { token: APNS_TOKEN })), { result: "success", msg: "" });
  assert.deepEqual(await server.ctx.stores.pushDevices.list(server.hamlet.id), []);

  const unread = await send("POST", FCM, { token: "fcm-2", extra: "1" });
  assert.deepEqual(json(unread), { result: "success", msg: "", ignored_parameters_unsupported: ["extra"] });

  // Bots are refused.
  const botKey = generateApiKey();
  const bot = await server.ctx.stores.users.create(
    {
      realmId: server.realm.id,
      email: "helper-bot@testserver",
      deliveryEmail: "helper-bot@testserver",
      fullName: "Helper",
      role: ROLE.member,
      isBot: true,
      botType: BOT_TYPE.generic,
      botOwnerId: server.hamlet.id,
      passwordHash: null,
      apiKey: server.ctx.vault.seal(botKey),
    },
    server.clock.now(),
  );
  const botAuth = basic(bot.deliveryEmail, botKey);
  await expectError(send("POST", FCM, { token: "fcm-3" }, botAuth), "This endpoint does not accept bot requests.");
  await expectError(send("DELETE", FCM, { token: "fcm-3" }, botAuth), "This endpoint does not accept bot requests.");
  // Bots may regenerate their own key.
  const botRegen = await regenerate(server, botAuth);
  assert.equal(botRegen.statusCode, 200);
  assert.equal((await usersMe(server, botAuth)).statusCode, 401);
});
