/**
 * Bots (docs/zulip-rules.md §8) and their keys (§7.2, §7.5) through the HTTP API: creation rules and messages,
 * listing, who may see and rotate a bot's key, deactivation and reactivation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAccount, createRealm, setAccountActive } from "../../src/domain/accounts.js";
import { AUDIT_EVENT } from "../../src/domain/audit.js";
import { ROLE } from "../../src/domain/model.js";
import { basic, form, freshPostgresUrl, json, makeTestServer, PASSWORD, type TestServer } from "../helper.js";

interface World {
  server: TestServer;
  hamlet: string;
  iago: string;
  othello: string;
  guest: string;
}

async function world(databaseUrl?: string): Promise<World> {
  const server = await makeTestServer(databaseUrl === undefined ? {} : { databaseUrl });
  const add = async (email: string, role: number) => {
    const { apiKey } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email,
      fullName: email,
      role,
      password: PASSWORD,
    });
    return basic(email, apiKey);
  };
  return {
    server,
    hamlet: basic("hamlet@zulip.com", server.keys.get(server.hamlet.id) as string),
    iago: basic("iago@zulip.com", server.keys.get(server.iago.id) as string),
    othello: await add("othello@zulip.com", ROLE.member),
    guest: await add("guest@zulip.com", ROLE.guest),
  };
}

async function call(
  server: TestServer,
  method: "GET" | "POST" | "DELETE",
  url: string,
  auth: string,
  fields: Record<string, string> = {},
) {
  const body = form(fields);
  return server.app.inject({ method, url, payload: body.payload, headers: { ...body.headers, authorization: auth } });
}

async function createBot(w: World, auth: string, fields: Record<string, string>) {
  const res = await call(w.server, "POST", "/api/v1/bots", auth, fields);
  assert.equal(res.statusCode, 200, res.body);
  const body = json(res);
  return { id: body.user_id as number, key: body.api_key as string, body };
}

async function userCount(server: TestServer): Promise<number> {
  return (await server.ctx.stores.users.listByRealm(server.realm.id)).length;
}

function expectError(res: { statusCode: number; json(): unknown }, msg: string, code = "BAD_REQUEST"): void {
  assert.equal(res.statusCode, 400, msg);
  assert.deepEqual(res.json(), { result: "error", msg, code });
}

test("creating a generic bot: its email, its key, and what the key can do", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const { id, key, body } = await createBot(w, w.hamlet, { full_name: "Weather Bot", short_name: "weather" });
  assert.deepEqual(Object.keys(body), [
    "result",
    "msg",
    "user_id",
    "api_key",
    "avatar_url",
    "default_sending_stream",
    "default_events_register_stream",
    "default_all_public_streams",
  ]);
  assert.match(key, /^[A-Za-z0-9]{32}$/);
  assert.equal(body.default_sending_stream, null);
  assert.equal(body.default_all_public_streams, false);
  const me = await w.server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { authorization: basic("weather-bot@testserver", key) },
  });
  assert.equal(me.statusCode, 200, me.body);
  assert.equal(json(me).user_id, id);
  assert.equal(json(me).is_bot, true);
  assert.equal(json(me).bot_type, 1);
  assert.equal(json(me).bot_owner_id, w.server.hamlet.id);
  assert.equal(json(me).full_name, "Weather Bot");

  const events = await w.server.ctx.stores.auditLog.list(w.server.realm.id, 10);
  assert.equal(events[0]?.eventType, AUDIT_EVENT.USER_CREATED);
  assert.equal(events[0]?.actingUserId, w.server.hamlet.id);
  assert.equal(events[0]?.modifiedUserId, id);
});

test("bots in an organization on a subdomain get that host in their email", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const realm = await createRealm(w.server.ctx, { subdomain: "lear", name: "Lear" });
  const { apiKey } = await createAccount(w.server.ctx, {
    realmId: realm.id,
    email: "king@lear.example",
    fullName: "King Lear",
    password: null,
  });
  const body = form({ full_name: "Fool", short_name: "fool" });
  const res = await w.server.app.inject({
    method: "POST",
    url: "/api/v1/bots",
    payload: body.payload,
    headers: { ...body.headers, host: "lear.testserver", authorization: basic("king@lear.example", apiKey) },
  });
  assert.equal(res.statusCode, 200, res.body);
  const bot = await w.server.ctx.stores.users.findById(json(res).user_id as number);
  assert.equal(bot?.email, "fool-bot@lear.testserver");
});

async function creationErrors(w: World): Promise<void> {
  await createBot(w, w.hamlet, { full_name: "Existing Bot", short_name: "existing" });
  const before = await userCount(w.server);
  const post = (fields: Record<string, string>, auth = w.hamlet) => call(w.server, "POST", "/api/v1/bots", auth, fields);
  const ok = { full_name: "New Bot", short_name: "newbot" };

  const missing = await post({ short_name: "x" });
  assert.deepEqual(json(missing), {
    result: "error",
    msg: "Missing 'full_name' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "full_name",
  });
  assert.equal(json(await post({ full_name: "Some Bot" })).msg, "Missing 'short_name' argument");
  expectError(await post({ ...ok, short_name: "" }), "Bad name or username");
  expectError(await post({ ...ok, short_name: "   " }), "Bad name or username");
  expectError(await post({ ...ok, short_name: "two words" }), "Bad name or username");
  expectError(await post({ ...ok, short_name: "a@b" }), "Bad name or username");
  expectError(await post({ ...ok, short_name: "s".repeat(300) }), "Bad name or username");
  expectError(await post({ ...ok, full_name: "x" }), "Name too short!");
  expectError(await post({ ...ok, full_name: "  y  " }), "Name too short!");
  expectError(await post({ ...ok, full_name: "z".repeat(101) }), "Name too long!");
  expectError(await post({ ...ok, full_name: "Bell\u0007Bot" }), "Invalid characters in name!");
  expectError(await post({ ...ok, full_name: "Bot|12" }), "Invalid format!");
  expectError(await post({ ...ok, short_name: "existing" }), "Username already in use");
  expectError(await post({ ...ok, short_name: "EXISTING" }), "Username already in use");
  expectError(await post({ ...ok, full_name: "Existing Bot" }), "Name is already in use!");
  // People's names count too.
  expectError(await post({ ...ok, full_name: "King Hamlet" }), "Name is already in use!");
  expectError(await post({ ...ok, bot_type: "9" }), "Invalid bot type");
  expectError(await post({ ...ok, bot_type: "0" }), "Invalid bot type");
  expectError(await post({ ...ok, bot_type: "4" }), "Embedded bots are not enabled.");
  expectError(await post({ ...ok, bot_type: "abc" }), "bot_type is not valid JSON");
  expectError(await post({ ...ok, bot_type: '"1"' }), "bot_type is not an integer");
  expectError(await post({ ...ok, bot_type: "1.5" }), "bot_type is not an integer");
  expectError(await post({ ...ok, interface_type: "7" }), "Invalid interface type");
  expectError(await post({ ...ok, payload_url: "http://x" }), "payload_url is not valid JSON");
  expectError(await post({ ...ok, payload_url: "3" }), "payload_url is not a string");
  expectError(await post({ ...ok, payload_url: '"not a url"' }), "payload_url is not a URL");
  expectError(await post({ ...ok, config_data: "[]" }), "config_data is not a dict");
  expectError(await post({ ...ok, default_all_public_streams: "yes" }), "default_all_public_streams is not valid JSON");
  expectError(await post({ ...ok, default_all_public_streams: "1" }), "default_all_public_streams is not a boolean");
  expectError(await post({ ...ok, default_sending_stream: "general" }), "Invalid channel name 'general'");
  expectError(await post(ok, w.guest), "Not allowed for guest users");
  // With several faults, the one Zulip's view meets first is reported.
  expectError(await post({ ...ok, short_name: "", default_sending_stream: "general" }), "Bad name or username");
  expectError(await post({ ...ok, full_name: "Existing Bot", default_events_register_stream: "x" }), "Name is already in use!");
  expectError(await post({ ...ok, bot_type: "9", default_sending_stream: "general" }), "Invalid bot type");
  expectError(await post({ ...ok, payload_url: '"not a url"', config_data: "[]" }), "payload_url is not a URL");
  expectError(await post({ ...ok, payload_url: '"not a url"', short_name: "" }), "payload_url is not a URL");
  expectError(await post({ ...ok, config_data: "[]", short_name: "" }), "config_data is not a dict");
  const bot = await createBot(w, w.hamlet, { full_name: "Maker Bot", short_name: "maker" });
  expectError(await post(ok, basic("maker-bot@testserver", bot.key)), "This endpoint does not accept bot requests.");
  // Only the one bot created on purpose above was added.
  assert.equal(await userCount(w.server), before + 1);
}

test("bot creation errors are Zulip's, and change nothing (SQLite)", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  await creationErrors(w);
});

test("bot creation errors are Zulip's, and change nothing (PostgreSQL)", async (t) => {
  const pg = await freshPostgresUrl();
  if (pg === null) return;
  const w = await world(pg.url);
  t.after(async () => {
    await w.server.close();
    await pg.drop();
  });
  await creationErrors(w);
  // Values at the limits are stored, not refused by the database.
  const longest = await createBot(w, w.hamlet, { full_name: "é".repeat(100), short_name: "l".repeat(200) });
  assert.equal((await w.server.ctx.stores.users.findById(longest.id))?.fullName, "é".repeat(100));
  const token = (appid: string) =>
    call(w.server, "POST", "/api/v1/users/me/apns_device_token", w.hamlet, { token: "ab".repeat(2048), appid });
  assert.equal((await token("a".repeat(255))).statusCode, 200);
  expectError(await token("a".repeat(256)), "appid is too long (limit: 255 characters)");
});

test("outgoing-webhook bots get a service token; listing shows one's own active bots with keys", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const outgoing = await createBot(w, w.hamlet, {
    full_name: "Hook Bot",
    short_name: "hook",
    bot_type: "3",
    payload_url: JSON.stringify("https://hooks.example.com/zulip"),
    interface_type: "2",
    default_all_public_streams: "true",
  });
  assert.equal(outgoing.body.default_all_public_streams, true);
  const service = await w.server.ctx.stores.botServices.find(outgoing.id);
  assert.equal(service?.baseUrl, "https://hooks.example.com/zulip");
  assert.equal(service?.interface, 2);
  assert.match(w.server.ctx.vault.unseal(service?.token as { digest: string; sealed: string }), /^[A-Za-z0-9]{32}$/);
  const incoming = await createBot(w, w.hamlet, { full_name: "Inbox Bot", short_name: "inbox", bot_type: "2" });
  assert.equal(await w.server.ctx.stores.botServices.find(incoming.id), null);
  const gone = await createBot(w, w.hamlet, { full_name: "Gone Bot", short_name: "gone" });
  await createBot(w, w.othello, { full_name: "Othello Bot", short_name: "othello" });
  assert.equal((await call(w.server, "DELETE", `/api/v1/bots/${gone.id}`, w.hamlet)).statusCode, 200);

  const list = await call(w.server, "GET", "/api/v1/bots", w.hamlet);
  assert.equal(list.statusCode, 200);
  assert.deepEqual(json(list), {
    result: "success",
    msg: "",
    bots: [
      {
        username: "hook-bot@testserver",
        full_name: "Hook Bot",
        api_key: outgoing.key,
        avatar_url: json(list).bots && (json(list).bots as { avatar_url: string }[])[0]?.avatar_url,
        default_sending_stream: null,
        default_events_register_stream: null,
        default_all_public_streams: true,
      },
      {
        username: "inbox-bot@testserver",
        full_name: "Inbox Bot",
        api_key: incoming.key,
        avatar_url: (json(list).bots as { avatar_url: string }[])[1]?.avatar_url,
        default_sending_stream: null,
        default_events_register_stream: null,
        default_all_public_streams: false,
      },
    ],
  });
  // Administrators do not see other people's bots here.
  assert.deepEqual(json(await call(w.server, "GET", "/api/v1/bots", w.iago)).bots, []);
  // Guests may not list bots at all (Zulip's require_member_or_admin).
  expectError(await call(w.server, "GET", "/api/v1/bots", w.guest), "Not allowed for guest users");
});

test("a bot's key: shown and rotated by its owner and administrators only", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const bot = await createBot(w, w.hamlet, { full_name: "Key Bot", short_name: "key" });
  const botAuth = basic("key-bot@testserver", bot.key);
  const showKey = (auth: string, id = bot.id) => call(w.server, "GET", `/api/v1/bots/${id}/api_key`, auth);
  const rotate = (auth: string, id = bot.id) => call(w.server, "POST", `/api/v1/bots/${id}/api_key/regenerate`, auth);

  for (const auth of [w.hamlet, w.iago]) {
    const shown = await showKey(auth);
    assert.deepEqual(json(shown), { result: "success", msg: "", api_key: bot.key });
  }
  expectError(await showKey(w.othello), "Insufficient permission");
  expectError(await showKey(w.guest), "Not allowed for guest users");
  expectError(await showKey(botAuth), "This endpoint does not accept bot requests.");
  expectError(await showKey(w.hamlet, w.server.iago.id), "No such bot");
  expectError(await showKey(w.hamlet, 999999), "No such bot");
  expectError(await showKey(w.hamlet, 99999999999), "No such bot");
  const notDigits = await call(w.server, "GET", "/api/v1/bots/abc/api_key", w.hamlet);
  assert.equal(notDigits.statusCode, 404);
  assert.deepEqual(json(notDigits), { result: "error", msg: "Not Found", code: "BAD_REQUEST" });

  expectError(await rotate(w.othello), "Insufficient permission");
  expectError(await rotate(w.guest), "Not allowed for guest users");
  expectError(await rotate(botAuth), "This endpoint does not accept bot requests.");
  // The bot's key is still the one it had, and cached.
  const meBot = () => w.server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: botAuth } });
  assert.equal((await meBot()).statusCode, 200);

  const rotated = await rotate(w.hamlet);
  assert.equal(rotated.statusCode, 200);
  const newKey = json(rotated).api_key as string;
  assert.notEqual(newKey, bot.key);
  const stale = await meBot();
  assert.equal(stale.statusCode, 401);
  assert.equal(json(stale).msg, "Invalid API key");
  assert.deepEqual(json(await showKey(w.hamlet)), { result: "success", msg: "", api_key: newKey });

  const byAdmin = await rotate(w.iago);
  assert.equal(byAdmin.statusCode, 200);
  const events = (await w.server.ctx.stores.auditLog.list(w.server.realm.id, 10)).filter(
    (e) => e.eventType === AUDIT_EVENT.USER_API_KEY_CHANGED,
  );
  assert.deepEqual(
    events.map((e) => [e.actingUserId, e.modifiedUserId]),
    [
      [w.server.iago.id, bot.id],
      [w.server.hamlet.id, bot.id],
    ],
  );

  // An administrator of another organization cannot reach it.
  const other = await createRealm(w.server.ctx, { subdomain: "elsewhere", name: "Elsewhere" });
  const { apiKey } = await createAccount(w.server.ctx, {
    realmId: other.id,
    email: "boss@elsewhere.example",
    fullName: "Boss",
    role: ROLE.owner,
    password: null,
  });
  const foreign = await w.server.app.inject({
    method: "GET",
    url: `/api/v1/bots/${bot.id}/api_key`,
    headers: { host: "elsewhere.testserver", authorization: basic("boss@elsewhere.example", apiKey) },
  });
  expectError(foreign, "No such bot");
});

test("listing bots is for members and administrators: a bot and a guest are refused in Zulip's words", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const bot = await createBot(w, w.hamlet, { full_name: "Lister Bot", short_name: "lister" });
  expectError(
    await call(w.server, "GET", "/api/v1/bots", basic("lister-bot@testserver", bot.key)),
    "This endpoint does not accept bot requests.",
  );
  expectError(await call(w.server, "GET", "/api/v1/bots", w.guest), "Not allowed for guest users");
  assert.equal(json(await call(w.server, "GET", "/api/v1/bots", w.hamlet)).result, "success");
});

test("deactivating and reactivating bots; deactivating a person deactivates their bots", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const bot = await createBot(w, w.hamlet, { full_name: "Sleepy Bot", short_name: "sleepy" });
  const botAuth = basic("sleepy-bot@testserver", bot.key);
  const meBot = () => w.server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: botAuth } });
  assert.equal((await meBot()).statusCode, 200);

  expectError(await call(w.server, "DELETE", `/api/v1/bots/${bot.id}`, w.othello), "Insufficient permission");
  expectError(await call(w.server, "DELETE", `/api/v1/bots/${bot.id}`, w.guest), "Insufficient permission");
  expectError(await call(w.server, "DELETE", `/api/v1/bots/${w.server.hamlet.id}`, w.iago), "No such bot");
  assert.equal((await meBot()).statusCode, 200);

  const off = await call(w.server, "DELETE", `/api/v1/bots/${bot.id}`, w.hamlet);
  assert.deepEqual(json(off), { result: "success", msg: "" });
  const refused = await meBot();
  assert.equal(refused.statusCode, 401);
  assert.deepEqual(json(refused), { result: "error", msg: "Account is deactivated", code: "UNAUTHORIZED" });

  // Reactivation is for the bot's owner and administrators (Zulip's access_user_by_id with
  // for_admin=True): anyone else is refused.
  const reactivate = (auth: string, id = bot.id) => call(w.server, "POST", `/api/v1/users/${id}/reactivate`, auth);
  expectError(await reactivate(w.othello), "Insufficient permission");
  expectError(await reactivate(w.guest), "Insufficient permission");
  expectError(await reactivate(w.iago, 424242), "No such user");
  assert.deepEqual(json(await reactivate(w.hamlet)), { result: "success", msg: "" });
  assert.equal((await meBot()).statusCode, 200);
  // A person is reactivated by administrators only.
  const othelloId = (await w.server.ctx.stores.users.findByDeliveryEmail(w.server.realm.id, "othello@zulip.com"))?.id ?? 0;
  await setAccountActive(w.server.ctx, othelloId, false);
  expectError(await reactivate(w.hamlet, othelloId), "Insufficient permission");
  assert.deepEqual(json(await reactivate(w.iago, othelloId)), { result: "success", msg: "" });
  // An administrator may bring back someone else's bot.
  await call(w.server, "DELETE", `/api/v1/bots/${bot.id}`, w.hamlet);
  assert.deepEqual(json(await reactivate(w.iago)), { result: "success", msg: "" });
  const types = (await w.server.ctx.stores.auditLog.list(w.server.realm.id, 10)).map((e) => e.eventType);
  assert.deepEqual(types.slice(0, 2), [AUDIT_EVENT.USER_REACTIVATED, AUDIT_EVENT.USER_DEACTIVATED]);

  // The CLI's `user deactivate` path: the owner's bots go with them, and do not come back.
  await setAccountActive(w.server.ctx, w.server.hamlet.id, false);
  const cascaded = await meBot();
  assert.equal(cascaded.statusCode, 401);
  assert.equal(json(cascaded).msg, "Account is deactivated");
  await setAccountActive(w.server.ctx, w.server.hamlet.id, true);
  assert.equal((await meBot()).statusCode, 401);
});

test("reactivating a bot whose name an active account now has is refused with Zulip's message", async (t) => {
  const w = await world();
  t.after(() => w.server.close());
  const first = await createBot(w, w.hamlet, { full_name: "Twin Bot", short_name: "twin" });
  assert.deepEqual(json(await call(w.server, "DELETE", `/api/v1/bots/${first.id}`, w.hamlet)), { result: "success", msg: "" });
  // With the first one deactivated, the name is free for a new bot.
  const second = await createBot(w, w.hamlet, { full_name: "Twin Bot", short_name: "twin2" });
  const clash =
    'There is already an active bot named "Twin Bot" in this organization. To reactivate this bot, you must rename or deactivate the other one first.';
  expectError(await call(w.server, "POST", `/api/v1/users/${first.id}/reactivate`, w.iago), clash);
  const firstKey = basic("twin-bot@testserver", first.key);
  assert.equal(
    (await w.server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: firstKey } })).statusCode,
    401,
  );
  // An active bot counts as holding its own name, as on Zulip.
  expectError(await call(w.server, "POST", `/api/v1/users/${second.id}/reactivate`, w.iago), clash);
  // Once the other one is deactivated, the first comes back.
  await call(w.server, "DELETE", `/api/v1/bots/${second.id}`, w.hamlet);
  assert.deepEqual(json(await call(w.server, "POST", `/api/v1/users/${first.id}/reactivate`, w.iago)), {
    result: "success",
    msg: "",
  });
  assert.equal(
    (await w.server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: firstKey } })).statusCode,
    200,
  );
});
