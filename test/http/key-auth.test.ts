/**
 * Using an API key (docs/zulip-rules.md §5): strict Basic parsing (§5.2), the key checks (§5.3) and their
 * rewrap as 401 UNAUTHORIZED with the Basic challenge, dispatch (§5.1: 405 first, 401 without
 * credentials, 404 only after credentials pass), the users/me body, and the key cache
 * following changes to users and organizations.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import { generateApiKey } from "../../src/domain/api-key.js";
import { BOT_TYPE, ROLE } from "../../src/domain/model.js";
import { parseBasicCredentials } from "../../src/http/basic-credentials.js";
import { generateSecrets } from "../../src/secrets.js";
import { syncKeyCache } from "../../src/store/cache-sync.js";
import { openDatabase } from "../../src/store/database.js";
import { createStores } from "../../src/store/stores.js";
import { basic, CountingHasher, json, makeTestServer, PASSWORD, type TestServer, testConfig } from "../helper.js";

const ME = "/api/v1/users/me";
const CHALLENGE = 'Basic realm="zulip"';

function me(server: TestServer, authorization?: string, extra: { url?: string; host?: string } = {}) {
  const headers: Record<string, string> = { host: extra.host ?? "testserver" };
  if (authorization !== undefined) headers.authorization = authorization;
  return server.app.inject({ method: "GET", url: extra.url ?? ME, headers });
}

function keyOf(server: TestServer, user = server.iago): string {
  return server.keys.get(user.id) as string;
}

function assertUnauthorized(res: LightMyRequestResponse, msg: string): void {
  assert.equal(res.statusCode, 401, res.body);
  assert.deepEqual(json(res), { result: "error", msg, code: "UNAUTHORIZED" });
  assert.equal(res.headers["www-authenticate"], CHALLENGE);
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64");

test("users/me: 200 with Zulip's own-user fields for a good key", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await me(server, basic("iago@zulip.com", keyOf(server)));
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  const body = json(res);
  assert.deepEqual(body, {
    result: "success",
    msg: "",
    user_id: server.iago.id,
    email: "iago@zulip.com",
    delivery_email: "iago@zulip.com",
    full_name: "Iago",
    avatar_url: body.avatar_url,
    avatar_version: 1,
    is_admin: true,
    is_owner: false,
    is_guest: false,
    is_billing_admin: false,
    role: ROLE.administrator,
    is_bot: false,
    timezone: "",
    is_active: true,
    // Python's isoformat() leaves out a zero fraction.
    date_joined: "2026-01-01T00:00:00+00:00",
    profile_data: {},
    max_message_id: -1,
  });
  assert.match(body.avatar_url as string, /^https:\/\/secure\.gravatar\.com\/avatar\/[0-9a-f]{32}\?d=identicon&version=1$/);
  assert.equal(res.body.endsWith("\n"), true);

  const hamlet = json(await me(server, basic("hamlet@zulip.com", keyOf(server, server.hamlet))));
  assert.equal(hamlet.user_id, server.hamlet.id);
  assert.equal(hamlet.is_admin, false);
  assert.equal(hamlet.role, ROLE.member);
  // Unread parameters are reported here too.
  const withParams = json(await me(server, basic("iago@zulip.com", keyOf(server)), { url: `${ME}?b=1&a=2` }));
  assert.deepEqual(withParams.ignored_parameters_unsupported, ["a", "b"]);
  assert.equal(withParams.user_id, server.iago.id);
});

test("date_joined is Python's isoformat() of the join time, with microseconds when there are any", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  server.clock.ms = Date.UTC(2024, 1, 29, 23, 59, 58, 7);
  const { apiKey } = await createAccount(server.ctx, {
    realmId: server.realm.id,
    email: "leap@zulip.com",
    fullName: "Leap",
    password: null,
  });
  const body = json(await me(server, basic("leap@zulip.com", apiKey)));
  assert.equal(body.date_joined, "2024-02-29T23:59:58.007000+00:00");
});

test("Basic credentials decode exactly as CPython's base64.b64decode(...).decode().split(':') does", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const file = JSON.parse(readFileSync(join(import.meta.dirname, "basic-vectors.json"), "utf8")) as {
    vectors: [string, [string, string] | null][];
  };
  assert.ok(file.vectors.length > 400);
  for (const [input, expected] of file.vectors) {
    let got: [string, string] | null;
    try {
      const { username, apiKey } = parseBasicCredentials(`Basic ${input}`);
      got = [username, apiKey];
    } catch {
      got = null;
    }
    assert.deepEqual(got, expected, JSON.stringify(input));
  }
  // Over HTTP, a refused header and a readable one with a bad key say different things.
  const key = keyOf(server);
  for (const [input, expected] of file.vectors.slice(0, 60)) {
    const res = await me(server, `Basic ${input}`);
    assert.equal(res.statusCode, 401, input);
    if (expected === null) assert.equal(json(res).msg, "Invalid authorization header for basic auth", input);
    else assert.notEqual(json(res).msg, "Invalid authorization header for basic auth", input);
  }
  // A well-formed header with characters Python skips still authenticates.
  const encoded = b64(`iago@zulip.com:${key}`);
  assert.equal((await me(server, `Basic ${encoded.slice(0, 4)}-${encoded.slice(4, 12)}_${encoded.slice(12)}`)).statusCode, 200);
  // Decoding stops at the first complete padding: what follows it is ignored.
  const padded = b64(`iago@zulip.com:${key}`);
  assert.ok(padded.endsWith("="));
  assert.equal((await me(server, `Basic ${padded}${b64("junk")}`)).statusCode, 200);
});

test("the Basic username is the delivery email, matched case-insensitively and trimmed; the key is trimmed", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const key = keyOf(server);
  for (const header of [
    basic("IAGO@ZULIP.COM", key),
    basic(" iago@zulip.com ", key),
    basic("iago@zulip.com", ` ${key} `),
    `basic ${b64(`iago@zulip.com:${key}`)}`,
    `BASIC ${b64(`iago@zulip.com:${key}`)}`,
    `  Basic   ${b64(`iago@zulip.com:${key}`)}  `,
  ]) {
    assert.equal((await me(server, header)).statusCode, 200, header);
  }
  // Python's non-validating base64 skips characters outside the alphabet.
  const encoded = b64(`iago@zulip.com:${key}`);
  assert.equal((await me(server, `Basic ${encoded.slice(0, 8)}*${encoded.slice(8)}`)).statusCode, 200);
});

test("whitespace is Python's: the header splits and the key and email strip where str.split()/strip() would", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const key = keyOf(server);
  const encoded = b64(`iago@zulip.com:${key}`);
  // U+0085 and U+00A0 can arrive as obs-text bytes; Python splits on both.
  for (const sep of ["\u0085", "\u00a0", "\t", " \t "]) {
    assert.equal((await me(server, `Basic${sep}${encoded}`)).statusCode, 200, JSON.stringify(sep));
  }
  for (const [username, apiKey] of [
    ["iago@zulip.com\u001c", key],
    ["\u3000iago@zulip.com", `${key}\u0085`],
    ["iago@zulip.com", `\u2003${key}\u001f`],
  ] as const) {
    assert.equal((await me(server, basic(username, apiKey))).statusCode, 200, JSON.stringify([username, apiKey]));
  }
  // U+FEFF is not whitespace to Python, so the key is malformed, and the email does not match.
  assertUnauthorized(await me(server, basic("iago@zulip.com", `\ufeff${key}`)), "Malformed API key");
  assertUnauthorized(await me(server, basic("\ufeffiago@zulip.com", key)), "Invalid API key");
});

test("§5.2: malformed Authorization headers, each with its exact error", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const key = keyOf(server);
  const invalid = "Invalid authorization header for basic auth";
  // Not two whitespace-separated parts.
  assertUnauthorized(await me(server, "Basic"), invalid);
  assertUnauthorized(await me(server, `Basic ${b64(`iago@zulip.com:${key}`)} extra`), invalid);
  assertUnauthorized(await me(server, "Bearer"), invalid);
  // Not base64 (wrong length or missing padding).
  assertUnauthorized(await me(server, "Basic abcde"), invalid);
  assertUnauthorized(await me(server, `Basic ${b64("iago@zulip.com:x").replace(/=+$/, "")}`), invalid);
  // Not UTF-8.
  assertUnauthorized(await me(server, `Basic ${b64(Buffer.from([0x69, 0x3a, 0xff, 0xfe]))}`), invalid);
  // No colon, or more than one.
  assertUnauthorized(await me(server, `Basic ${b64(`iago@zulip.com${key}`)}`), invalid);
  assertUnauthorized(await me(server, `Basic ${b64(`iago@zulip.com:${key}:`)}`), invalid);
  assertUnauthorized(await me(server, `Basic ${b64(`a:b:${key}`)}`), invalid);
  // Another scheme: 400 BAD_REQUEST, no challenge.
  for (const header of [`Bearer ${key}`, `Token ${b64(`iago@zulip.com:${key}`)}`]) {
    const res = await me(server, header);
    assert.equal(res.statusCode, 400);
    assert.deepEqual(json(res), {
      result: "error",
      msg: "This endpoint requires HTTP basic authentication.",
      code: "BAD_REQUEST",
    });
  }
});

test("§5.1: no credentials is 401 UNAUTHORIZED with the Basic challenge on /api paths", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  assertUnauthorized(await me(server), "Not logged in: API authentication or user session required");
  // A session-looking cookie alone never authenticates an /api/v1 endpoint.
  const res = await server.app.inject({ method: "GET", url: ME, headers: { cookie: "sessionid=abc; csrftoken=def" } });
  assertUnauthorized(res, "Not logged in: API authentication or user session required");
});

test("§5.3 rewrapped: malformed, unknown and mismatched keys, deactivated user and organization, wrong subdomain", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx } = server;
  const key = keyOf(server);
  assertUnauthorized(await me(server, basic("iago@zulip.com", "short")), "Malformed API key");
  assertUnauthorized(await me(server, basic("iago@zulip.com", `${key.slice(0, 31)}-`)), "Malformed API key");
  assertUnauthorized(await me(server, basic("iago@zulip.com", `${key}a`)), "Malformed API key");
  assertUnauthorized(await me(server, basic("iago@zulip.com", "")), "Malformed API key");
  assertUnauthorized(await me(server, basic("iago@zulip.com", "a".repeat(32))), "Invalid API key");
  assertUnauthorized(await me(server, basic("iago@zulip.com", generateApiKey())), "Invalid API key");
  // Hamlet's key with Iago's email, and a key with an empty username.
  assertUnauthorized(await me(server, basic("iago@zulip.com", keyOf(server, server.hamlet))), "Invalid API key");
  assertUnauthorized(await me(server, basic("", key)), "Invalid API key");
  // Keys are case-sensitive.
  const flipped = [...key].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join("");
  if (flipped !== key) assertUnauthorized(await me(server, basic("iago@zulip.com", flipped)), "Invalid API key");

  // The right key at another organization's host.
  await createRealm(ctx, { subdomain: "other", name: "Other" });
  assertUnauthorized(
    await me(server, basic("iago@zulip.com", key), { host: "other.testserver" }),
    "Account is not associated with this subdomain",
  );

  await setAccountActive(ctx, server.iago.id, false);
  assertUnauthorized(await me(server, basic("iago@zulip.com", key)), "Account is deactivated");
  await setAccountActive(ctx, server.iago.id, true);
  assert.equal((await me(server, basic("iago@zulip.com", key))).statusCode, 200);

  await setRealmDeactivated(ctx, server.realm.id, true);
  assertUnauthorized(await me(server, basic("iago@zulip.com", key)), "This organization has been deactivated");
  // The organization is checked before the user.
  await setAccountActive(ctx, server.hamlet.id, false);
  assertUnauthorized(
    await me(server, basic("hamlet@zulip.com", keyOf(server, server.hamlet))),
    "This organization has been deactivated",
  );
  await setRealmDeactivated(ctx, server.realm.id, false);
  assert.equal((await me(server, basic("iago@zulip.com", key))).statusCode, 200);
});

test("bots: a generic bot authenticates with its email; an incoming-webhook bot may not use users/me", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx } = server;
  const bots: Record<string, string> = {};
  for (const [name, botType] of [
    ["generic-bot@zulip.com", BOT_TYPE.generic],
    ["webhook-bot@zulip.com", BOT_TYPE.incomingWebhook],
  ] as const) {
    const apiKey = generateApiKey();
    await ctx.stores.users.create(
      {
        realmId: server.realm.id,
        email: name,
        deliveryEmail: name,
        fullName: name,
        role: ROLE.member,
        isBot: true,
        botType,
        botOwnerId: server.iago.id,
        passwordHash: null,
        apiKey: ctx.vault.seal(apiKey),
      },
      ctx.clock.now(),
    );
    bots[name] = apiKey;
  }
  const generic = await me(server, basic("generic-bot@zulip.com", bots["generic-bot@zulip.com"] as string));
  assert.equal(generic.statusCode, 200);
  assert.equal(json(generic).is_bot, true);
  assert.equal(json(generic).bot_type, BOT_TYPE.generic);
  assert.equal(json(generic).bot_owner_id, server.iago.id);
  assert.equal("profile_data" in json(generic), false);
  assertUnauthorized(
    await me(server, basic("webhook-bot@zulip.com", bots["webhook-bot@zulip.com"] as string)),
    "This API is not available to incoming webhook bots.",
  );
  // Deactivating the owner deactivates the bots; reactivating does not bring them back.
  await setAccountActive(ctx, server.iago.id, false);
  await setAccountActive(ctx, server.iago.id, true);
  assertUnauthorized(
    await me(server, basic("generic-bot@zulip.com", bots["generic-bot@zulip.com"] as string)),
    "Account is deactivated",
  );
});

test("405 before authentication; unknown paths: 404 envelope, but 401 first when the credentials are bad", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const key = keyOf(server);
  for (const method of ["POST", "PUT", "PATCH"] as const) {
    const res = await server.app.inject({ method, url: ME, headers: { authorization: basic("iago@zulip.com", "bad") } });
    assert.equal(res.statusCode, 405);
    assert.deepEqual(json(res), { result: "error", msg: "Method Not Allowed", allowed_methods: ["GET"] });
  }
  const notFound = { result: "error", msg: "Not Found", code: "BAD_REQUEST" };
  for (const url of ["/api/v1/nope", "/api/v1/register", "/api/v2/users/me", "/json/users/me"]) {
    const anonymous = await me(server, undefined, { url });
    assert.equal(anonymous.statusCode, 404, url);
    assert.deepEqual(json(anonymous), notFound);
    const good = await me(server, basic("iago@zulip.com", key), { url });
    assert.equal(good.statusCode, 404, url);
    assert.deepEqual(json(good), notFound);
    assertUnauthorized(await me(server, basic("iago@zulip.com", "a".repeat(32)), { url }), "Invalid API key");
    assertUnauthorized(await me(server, basic("iago@zulip.com", "bad"), { url }), "Malformed API key");
  }
  // Flutter's post-login check: POST /register with a wrong key must be 401, not 404.
  const register = await server.app.inject({
    method: "POST",
    url: "/api/v1/register",
    headers: { authorization: basic("iago@zulip.com", generateApiKey()) },
  });
  assertUnauthorized(register, "Invalid API key");
  // Outside /api and /json, credentials are not looked at.
  const outside = await me(server, basic("iago@zulip.com", "bad"), { url: "/nope" });
  assert.equal(outside.statusCode, 404);
});

test("the key cache follows changes made through the domain: deactivation takes effect on the next request", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const header = basic("hamlet@zulip.com", keyOf(server, server.hamlet));
  // Twice, so the second answer comes from the cache.
  assert.equal((await me(server, header)).statusCode, 200);
  assert.equal((await me(server, header)).statusCode, 200);
  assert.ok(server.ctx.keyCache.size > 0);
  await setAccountActive(server.ctx, server.hamlet.id, false);
  assertUnauthorized(await me(server, header), "Account is deactivated");
  await setAccountActive(server.ctx, server.hamlet.id, true);
  assert.equal((await me(server, header)).statusCode, 200);
  await setRealmDeactivated(server.ctx, server.realm.id, true);
  assertUnauthorized(await me(server, header), "This organization has been deactivated");
});

test("the key cache follows a store write by another process on the same SQLite file (the CLI's path)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "db.sqlite");
  const config = testConfig("production");
  const database = await openDatabase(file);
  const secrets = generateSecrets();
  const ctx = createContext({ config, database, secrets, hasher: new CountingHasher() });
  const app = await buildApp({ config, ctx });
  const sync = await syncKeyCache(database, ctx.keyCache, ctx.log);
  t.after(async () => {
    await app.close();
    await sync.close();
    await database.close();
  });
  const realm = await createRealm(ctx, { subdomain: "", name: "Org" });
  const { user, apiKey } = await createAccount(ctx, {
    realmId: realm.id,
    email: "cordelia@zulip.com",
    fullName: "Cordelia",
    password: PASSWORD,
  });
  const ask = () =>
    app.inject({ method: "GET", url: ME, headers: { host: "testserver", authorization: basic("cordelia@zulip.com", apiKey) } });
  assert.equal((await ask()).statusCode, 200);
  assert.equal((await ask()).statusCode, 200);

  // Another connection, as another process would have, writes straight to the store. The
  // server reads SQLite's data_version at most once a millisecond: what another process commits
  // is seen from the next millisecond on.
  const nextMillisecond = async () => {
    const start = Date.now();
    while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
  };
  const other = await openDatabase(file);
  t.after(() => other.close());
  const stores = createStores(other.db);
  await stores.users.update(user.id, { isActive: false });
  await nextMillisecond();
  assertUnauthorized(await ask(), "Account is deactivated");
  await stores.users.update(user.id, { isActive: true });
  await nextMillisecond();
  assert.equal((await ask()).statusCode, 200);
  await stores.realms.update(realm.id, { deactivated: true });
  await nextMillisecond();
  assertUnauthorized(await ask(), "This organization has been deactivated");
  await stores.realms.update(realm.id, { deactivated: false });
  await nextMillisecond();
  // A new key replaces the old one at once.
  const fresh = generateApiKey();
  await stores.users.update(user.id, { apiKey: ctx.vault.seal(fresh) });
  await nextMillisecond();
  assertUnauthorized(await ask(), "Invalid API key");
  const renewed = await app.inject({
    method: "GET",
    url: ME,
    headers: { host: "testserver", authorization: basic("cordelia@zulip.com", fresh) },
  });
  assert.equal(renewed.statusCode, 200);
});
