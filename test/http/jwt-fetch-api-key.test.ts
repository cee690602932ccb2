/**
 * `POST /api/v1/jwt/fetch_api_key` (docs/zulip-rules.md §1b): every error of Zulip's
 * `JWTFetchAPIKeyTest` with its status, code and text; HS256 and RS256 keys; `alg: none`, an
 * algorithm the organization did not list, a token for another organization, expired and
 * not-yet-valid tokens; `include_profile`; the login throttle and the new-login email; and
 * `LATCHKEY_JWT_AUTH_KEYS` refused at boot when it is wrong.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { type JWTPayload, SignJWT } from "jose";
import { parseJwtAuthKeys } from "../../src/auth/jwt-keys.js";
import { createAccount, createRealm, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import { ConfigError } from "../../src/env.js";
import { basic, form, json, makeTestServer, type TestServer } from "../helper.js";

const URL = "/api/v1/jwt/fetch_api_key";
const HS_KEY = randomBytes(32).toString("hex");
const OTHER_KEY = randomBytes(32).toString("hex");
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const RSA_PUBLIC = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();

function env(keys: Record<string, unknown>): Record<string, string> {
  return { LATCHKEY_JWT_AUTH_KEYS: JSON.stringify(keys) };
}

const DEFAULT_KEYS = {
  "": { key: HS_KEY, algorithms: ["HS256"] },
  rsa: { key: RSA_PUBLIC, algorithms: ["RS256"] },
  other: { key: OTHER_KEY, algorithms: ["HS256"] },
};

/** Seconds since the epoch on the server's (hand-moved) clock. */
function now(server: TestServer): number {
  return Math.floor(server.clock.now() / 1000);
}

function hs256(payload: JWTPayload, key = HS_KEY, alg = "HS256"): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(key));
}

function rs256(payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
}

/** An unsigned token: header `{"alg":"none"}` and an empty signature. */
function unsigned(payload: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(payload)}.`;
}

function post(server: TestServer, fields: Record<string, string>, host = "testserver"): Promise<LightMyRequestResponse> {
  const { payload, headers } = form(fields);
  return server.app.inject({ method: "POST", url: URL, payload, headers: { ...headers, host } });
}

function assertError(res: LightMyRequestResponse, status: number, msg: string, code = "BAD_REQUEST"): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(json(res), { result: "error", msg, code });
}

const BAD = "Bad JSON web token";

test("success: the key and delivery email, no user_id; a user object only with include_profile=true", async (t) => {
  const server = await makeTestServer({ env: env(DEFAULT_KEYS) });
  t.after(() => server.close());
  const token = await hs256({ email: "hamlet@zulip.com" });
  const key = server.keys.get(server.hamlet.id);
  const extras: Record<string, string>[] = [{}, { include_profile: "false" }];
  for (const extra of extras) {
    const res = await post(server, { token, ...extra });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(json(res), { result: "success", msg: "", api_key: key, email: "hamlet@zulip.com" });
  }
  const withProfile = json(await post(server, { token, include_profile: "true" }));
  const user = withProfile.user as Record<string, unknown>;
  assert.equal(withProfile.api_key, key);
  assert.equal(user.user_id, server.hamlet.id);
  assert.equal(user.email, "hamlet@zulip.com");
  assert.equal(user.full_name, "King Hamlet");
  assert.equal(user.role, 400);
  assert.equal(user.is_active, true);
  assert.equal(user.is_bot, false);
  assert.ok(!("profile_data" in user), "no custom profile fields, as Zulip's include_custom_profile_fields=False");
  // The key works.
  const me = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { host: "testserver", authorization: basic("hamlet@zulip.com", key as string) },
  });
  assert.equal(me.statusCode, 200);
  // The email in the token matches as the password login matches: trimmed, any case.
  const upper = json(await post(server, { token: await hs256({ email: " HAMLET@Zulip.com " }) }));
  assert.equal(upper.email, "hamlet@zulip.com");
  // Parameters it does not read are reported, as on every typed Zulip endpoint.
  assert.deepEqual(json(await post(server, { token, foo: "1" })).ignored_parameters_unsupported, ["foo"]);
});

test("RS256 against the organization's public key; a token in an algorithm it did not list is a bad token", async (t) => {
  const server = await makeTestServer({ env: env(DEFAULT_KEYS) });
  t.after(() => server.close());
  const rsaRealm = await createRealm(server.ctx, { subdomain: "rsa", name: "RSA" });
  await createAccount(server.ctx, { realmId: rsaRealm.id, email: "ann@rsa.example", fullName: "Ann", password: null });
  const good = await post(server, { token: await rs256({ email: "ann@rsa.example" }) }, "rsa.testserver");
  assert.equal(good.statusCode, 200, good.body);
  assert.equal(json(good).email, "ann@rsa.example");
  // The HS256 organization refuses the RS256 token, and the RS256 one an HS256 token made with
  // its public key as the secret (the algorithm-confusion attack).
  assertError(await post(server, { token: await rs256({ email: "iago@zulip.com" }) }), 400, BAD);
  const confused = await hs256({ email: "ann@rsa.example" }, RSA_PUBLIC);
  assertError(await post(server, { token: confused }, "rsa.testserver"), 400, BAD);
  // HS384 with the right secret: not listed, refused.
  assertError(await post(server, { token: await hs256({ email: "iago@zulip.com" }, HS_KEY, "HS384") }), 400, BAD);
});

test("alg none, a wrong signature, garbage, an expired or not-yet-valid token, one naming an audience: all 'Bad JSON web token'", async (t) => {
  const server = await makeTestServer({ env: env(DEFAULT_KEYS) });
  t.after(() => server.close());
  const t0 = now(server);
  const cases: [string, string][] = [
    ["alg none", unsigned({ email: "iago@zulip.com" })],
    ["wrong key", await hs256({ email: "iago@zulip.com" }, randomBytes(32).toString("hex"))],
    ["not a JWT", "bad_jwt_token"],
    ["expired", await hs256({ email: "iago@zulip.com", exp: t0 - 1 })],
    ["not yet valid", await hs256({ email: "iago@zulip.com", nbf: t0 + 60 })],
    ["an audience", await hs256({ email: "iago@zulip.com", aud: "some-service" })],
  ];
  for (const [name, token] of cases) {
    const res = await post(server, { token });
    assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
    assert.deepEqual(json(res), { result: "error", msg: BAD, code: "BAD_REQUEST" }, name);
  }
  // A token that is still good is accepted, and stops being good when its time is up.
  const later = await hs256({ email: "iago@zulip.com", exp: t0 + 30 });
  assert.equal((await post(server, { token: later })).statusCode, 200);
  server.clock.advance(31);
  assertError(await post(server, { token: later }), 400, BAD);
  assert.equal(server.mailer.sent.length, 0, "no login happened for a bad token");
});

test("the other errors, in Zulip's order: subdomain, not enabled, no token, no email; then the account's", async (t) => {
  const server = await makeTestServer({ env: env({ "": { key: HS_KEY, algorithms: ["HS256"] } }) });
  t.after(() => server.close());
  // No organization at the host: 404, before anything else.
  const nowhere = await post(server, { token: await hs256({ email: "iago@zulip.com" }) }, "nowhere.testserver");
  assertError(nowhere, 404, "Invalid subdomain", "NONEXISTENT_SUBDOMAIN");
  // An organization without a key.
  await createRealm(server.ctx, { subdomain: "zephyr", name: "Zephyr" });
  assertError(await post(server, {}, "zephyr.testserver"), 400, "JWT authentication is not enabled for this organization");
  // No token, or an empty one.
  assertError(await post(server, {}), 400, "No JSON web token passed in request");
  assertError(await post(server, { token: "" }), 400, "No JSON web token passed in request");
  // No email claim, or a null one.
  assertError(await post(server, { token: await hs256({ bar: "baz" }) }), 400, "No email specified in JSON web token claims");
  assertError(await post(server, { token: await hs256({ email: null }) }), 400, "No email specified in JSON web token claims");
  // An empty email, an unknown one, one that is not a string: Zulip's incorrect-login answer.
  const failed = ["Your username or password is incorrect", "AUTHENTICATION_FAILED"] as const;
  assertError(await post(server, { token: await hs256({ email: "" }) }), 401, ...failed);
  assertError(await post(server, { token: await hs256({ email: "alice@zulip.com" }) }), 401, ...failed);
  assertError(await post(server, { token: await hs256({ email: 42 }) }), 401, ...failed);
  // include_profile is read first, as Zulip declares it first.
  assertError(await post(server, { include_profile: "yes" }, "nowhere.testserver"), 400, "include_profile is not valid JSON");
  assertError(await post(server, { include_profile: '"true"' }), 400, "include_profile is not a boolean");
  // Zulip's require_post: other methods get the JSON 405.
  const get = await server.app.inject({ method: "GET", url: URL, headers: { host: "testserver" } });
  assert.equal(get.statusCode, 405);
  assert.deepEqual(json(get), { result: "error", msg: "Method Not Allowed", allowed_methods: ["POST"] });
});

test("a deactivated account or organization gets its own answer; an account of another organization does not log in", async (t) => {
  const server = await makeTestServer({ env: env(DEFAULT_KEYS) });
  t.after(() => server.close());
  const other = await createRealm(server.ctx, { subdomain: "other", name: "Other" });
  await createAccount(server.ctx, { realmId: other.id, email: "starnine@mit.edu", fullName: "Star", password: null });
  // A token the other organization signed, sent to this one: its key is not this one's.
  const otherToken = await hs256({ email: "iago@zulip.com" }, OTHER_KEY);
  assertError(await post(server, { token: otherToken }), 400, BAD);
  // This organization's token for a person who has an account only in the other: the ordinary
  // failure (late-2025 Zulip; 2024 releases answered 404 "Invalid subdomain").
  const stranger = await post(server, { token: await hs256({ email: "starnine@mit.edu" }) });
  assertError(stranger, 401, "Your username or password is incorrect", "AUTHENTICATION_FAILED");
  // And the same token at the other organization's host: signed with the wrong key there.
  assertError(await post(server, { token: await hs256({ email: "starnine@mit.edu" }) }, "other.testserver"), 400, BAD);

  await setAccountActive(server.ctx, server.iago.id, false);
  const token = await hs256({ email: "iago@zulip.com" });
  assertError(await post(server, { token }), 401, "Account is deactivated", "USER_DEACTIVATED");
  await setRealmDeactivated(server.ctx, server.realm.id, true);
  assertError(await post(server, { token }), 401, "This organization has been deactivated", "REALM_DEACTIVATED");
});

test("counted like every login: the per-username throttle, a success clearing it, the new-login email and the log", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = {
    info: (obj: object, msg?: string) => lines.push({ ...obj, msg }),
    warn: () => {},
    error: () => {},
  };
  const server = await makeTestServer({ env: { ...env(DEFAULT_KEYS), LATCHKEY_RATE_LIMIT_AUTH: "1800:3" }, log });
  t.after(() => server.close());
  server.clock.advance(120); // past Zulip's 60-second just-created window
  const good = await hs256({ email: "hamlet@zulip.com" });
  const ok = await post(server, { token: good });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers["x-ratelimit-limit"], "3");
  await setAccountActive(server.ctx, server.hamlet.id, false);
  for (let i = 0; i < 3; i++) assertError(await post(server, { token: good }), 401, "Account is deactivated", "USER_DEACTIVATED");
  const limited = await post(server, { token: good });
  assert.equal(limited.statusCode, 429);
  assert.equal(json(limited).code, "RATE_LIMIT_HIT");
  assert.ok(Number(limited.headers["retry-after"]) > 0);
  // Another person's budget is their own; a success clears it.
  const iago = await hs256({ email: "iago@zulip.com" });
  assert.equal((await post(server, { token: iago })).statusCode, 200);
  await setAccountActive(server.ctx, server.hamlet.id, true);
  server.clock.advance(1801);
  assert.equal((await post(server, { token: good })).statusCode, 200);
  for (let i = 0; i < 3; i++) assert.equal((await post(server, { token: good })).statusCode, 200, "a success clears the history");

  // The new-login email of each success (sent in the background) and the login line.
  const deadline = Date.now() + 5000;
  while (server.mailer.sent.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.mailer.sent.filter((m) => m.to === "hamlet@zulip.com").length, 5);
  assert.equal(lines.filter((l) => l.msg === "api key fetched" && l.userId === server.hamlet.id).length, 5);
});

test("the per-address limit counts JWT logins as it counts fetch_api_key", async (t) => {
  const server = await makeTestServer({ env: { ...env(DEFAULT_KEYS), LATCHKEY_RATE_LIMIT_IP: "60:2" } });
  t.after(() => server.close());
  assert.equal((await post(server, { token: "x" })).statusCode, 400);
  assert.equal((await post(server, { token: "x" })).statusCode, 400);
  const limited = await post(server, { token: await hs256({ email: "iago@zulip.com" }) });
  assert.equal(limited.statusCode, 429);
});

test("without LATCHKEY_JWT_AUTH_KEYS every organization answers 'not enabled'", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  assertError(await post(server, { token: "x" }), 400, "JWT authentication is not enabled for this organization");
});

test("LATCHKEY_JWT_AUTH_KEYS is checked at boot: each mistake stops the server with a message naming the variable", () => {
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
  const cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUfake\n-----END CERTIFICATE-----\n";
  const bad: [unknown, RegExp][] = [
    ["not json", /not valid JSON/],
    [[], /expected a JSON object/],
    [{ Zulip: { key: HS_KEY, algorithms: ["HS256"] } }, /"Zulip" is not a subdomain/],
    [{ "": "secret" }, /must be an object/],
    [{ "": { key: HS_KEY } }, /"algorithms" must be a non-empty list/],
    [{ "": { key: HS_KEY, algorithms: [] } }, /"algorithms" must be a non-empty list/],
    [{ "": { key: "", algorithms: ["HS256"] } }, /"key" must be a non-empty string/],
    [{ "": { key: HS_KEY, algorithms: ["none"] } }, /"none" is never accepted/],
    [{ "": { key: HS_KEY, algorithms: ["HS999"] } }, /unknown algorithm "HS999"/],
    [{ "": { key: HS_KEY, algorithms: ["HS256", "RS256"] } }, /cannot share one key/],
    [{ "": { key: "key1", algorithms: ["HS256"] } }, /at least 32 bytes \(RFC 7518/],
    [{ "": { key: HS_KEY.slice(0, 40), algorithms: ["HS512"] } }, /at least 64 bytes/],
    [{ "": { key: RSA_PUBLIC, algorithms: ["HS256"] } }, /a PEM key cannot be an HMAC secret/],
    [{ "": { key: "not a pem", algorithms: ["RS256"] } }, /must be a PEM public key or certificate/],
    [{ "": { key: cert, algorithms: ["RS256"] } }, /must be a PEM public key or certificate/],
    [{ "": { key: ec, algorithms: ["RS256"] } }, /the key is ec \(prime256v1\), which cannot check RS256/],
    [{ "": { key: RSA_PUBLIC, algorithms: ["ES256"] } }, /the key is rsa, which cannot check ES256/],
    [{ "": { key: HS_KEY, algorithms: ["HS256"], audience: "x" } }, /unknown key "audience"/],
  ];
  for (const [value, message] of bad) {
    const raw = typeof value === "string" ? value : JSON.stringify(value);
    assert.throws(
      () => parseJwtAuthKeys({ LATCHKEY_JWT_AUTH_KEYS: raw }),
      (err: unknown) => err instanceof ConfigError && err.variable === "LATCHKEY_JWT_AUTH_KEYS" && message.test(err.message),
      raw,
    );
  }
  const good = parseJwtAuthKeys({
    LATCHKEY_JWT_AUTH_KEYS: JSON.stringify({
      "": { key: HS_KEY, algorithms: ["HS256"] },
      ec: { key: ec, algorithms: ["ES256"] },
    }),
  });
  assert.deepEqual([...good.keys()], ["", "ec"]);
  assert.equal(parseJwtAuthKeys({}).size, 0);
});
