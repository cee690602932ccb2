/**
 * `GET /api/v1/server_settings` (docs/zulip-rules.md §3, docs/clients.md §4): the exact key set with and
 * without an organization, the types the mobile app requires, realm resolution, and the
 * answers that do not depend on credentials.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm, setRealmAuthMethods } from "../../src/domain/accounts.js";
import { zuliprcFor } from "../../src/domain/zuliprc.js";
import { generateSecrets } from "../../src/secrets.js";
import { openDatabase } from "../../src/store/database.js";
import { assertFlutterFields } from "../clients/client-shapes.js";
import { basic, CountingHasher, json, makeTestServer, type TestServer, testConfig } from "../helper.js";

const REALM_KEYS = [
  "authentication_methods",
  "external_authentication_methods",
  "email_auth_enabled",
  "is_incompatible",
  "require_email_format_usernames",
  "realm_url",
  "realm_uri",
  "realm_name",
  "realm_icon",
  "realm_description",
  "realm_web_public_access_enabled",
  "zulip_version",
  "zulip_merge_base",
  "zulip_feature_level",
  "push_notifications_enabled",
  "msg",
  "result",
].sort();
const ROOT_KEYS = REALM_KEYS.filter((k) => !["realm_name", "realm_icon", "realm_description"].includes(k));
const AUTH_METHOD_KEYS = [
  "password",
  "dev",
  "email",
  "ldap",
  "remoteuser",
  "github",
  "azuread",
  "gitlab",
  "apple",
  "google",
  "saml",
  "openid connect",
].sort();

function settings(server: TestServer, headers: Record<string, string> = {}, url = "/api/v1/server_settings") {
  return server.app.inject({ method: "GET", url, headers });
}

test("with an organization: exactly §3's key set, the values the mobile app needs, no auth required", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await settings(server);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  const body = json(res);
  assert.deepEqual(Object.keys(body).sort(), REALM_KEYS);
  assertFlutterFields(body);
  assert.deepEqual(Object.keys(body.authentication_methods as object).sort(), AUTH_METHOD_KEYS);
  assert.deepEqual(body.authentication_methods, {
    password: true,
    dev: true,
    email: true,
    ldap: false,
    remoteuser: false,
    github: false,
    azuread: false,
    gitlab: false,
    google: false,
    apple: false,
    saml: false,
    "openid connect": false,
  });
  assert.equal(body.result, "success");
  assert.equal(body.msg, "");
  assert.deepEqual(body.external_authentication_methods, []);
  assert.equal(body.zulip_feature_level, 371);
  assert.equal(body.zulip_version, "10.0");
  assert.equal(body.zulip_merge_base, "10.0");
  assert.equal(body.email_auth_enabled, true);
  assert.equal(body.require_email_format_usernames, true);
  assert.equal(body.realm_web_public_access_enabled, false);
  assert.equal(body.push_notifications_enabled, false);
  assert.equal(body.is_incompatible, false);
  assert.equal(body.realm_url, "http://testserver");
  assert.equal(body.realm_uri, body.realm_url);
  assert.equal(body.realm_name, "Zulip Dev");
  assert.equal(body.realm_description, "<p>A test organization.</p>");
  assert.match(body.realm_icon as string, /^https:\/\/secure\.gravatar\.com\/avatar\/[0-9a-f]{32}\?d=identicon$/);
});

test("a Basic header, right or wrong, changes nothing: python-zulip-api always sends one", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const plain = json(await settings(server));
  for (const authorization of [
    basic("iago@zulip.com", server.keys.get(server.iago.id) as string),
    basic("iago@zulip.com", "wrongwrongwrongwrongwrongwrong12"),
    basic("iago@zulip.com", "short"),
    "Bearer nonsense",
    "Basic !!!",
  ]) {
    const res = await settings(server, { authorization });
    assert.equal(res.statusCode, 200, `${authorization}: ${res.body}`);
    assert.deepEqual(json(res), plain);
  }
});

test("query parameters are ignored and never reported; HEAD works; other methods get Django's plain 405", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const body = json(await settings(server, {}, "/api/v1/server_settings?foo=1&bar=2"));
  assert.equal(body.result, "success");
  assert.equal("ignored_parameters_unsupported" in body, false);

  const head = await server.app.inject({ method: "HEAD", url: "/api/v1/server_settings" });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, "");

  for (const method of ["POST", "PUT", "PATCH", "DELETE"] as const) {
    const res = await server.app.inject({ method, url: "/api/v1/server_settings" });
    assert.equal(res.statusCode, 405);
    assert.equal(res.body, "");
    assert.equal(res.headers.allow, "GET, HEAD");
  }
});

test("is_incompatible is true only for the User-Agent name ZulipInvalid", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const incompatible = async (ua: string | undefined) =>
    json(await settings(server, ua === undefined ? {} : { "user-agent": ua })).is_incompatible;
  assert.equal(await incompatible("ZulipInvalid/1.0"), true);
  assert.equal(await incompatible("ZulipInvalid"), true);
  assert.equal(await incompatible("ZulipFlutter/30.0.274+274 (Android 14)"), false);
  assert.equal(await incompatible("ZulipInvalidish/1.0"), false);
  assert.equal(await incompatible(undefined), false);
});

test("realm resolution: subdomains, the www alias, an unknown subdomain, the root without an organization", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await createRealm(server.ctx, { subdomain: "lear", name: "Lear & Co", description: "Line one\nline <two>\n\nPara" });
  const lear = json(await settings(server, { host: "LEAR.testserver" }));
  assert.deepEqual(Object.keys(lear).sort(), REALM_KEYS);
  assert.equal(lear.realm_name, "Lear & Co");
  assert.equal(lear.realm_url, "http://lear.testserver");
  assert.equal(lear.realm_uri, "http://lear.testserver");
  assert.equal(lear.realm_description, "<p>Line one<br>\nline &#60;two&#62;</p>\n<p>Para</p>");

  assert.equal(json(await settings(server, { host: "www.testserver" })).realm_name, "Zulip Dev");

  const unknown = await settings(server, { host: "nowhere.testserver" });
  assert.equal(unknown.statusCode, 400);
  assert.deepEqual(json(unknown), { result: "error", msg: "Invalid subdomain", code: "BAD_REQUEST" });

  // Login methods show through.
  await setRealmAuthMethods(server.ctx, server.realm.id, { email: false, dev: false });
  const off = json(await settings(server));
  assert.equal(off.email_auth_enabled, false);
  assert.equal((off.authentication_methods as Record<string, boolean>).password, false);
  assert.equal((off.authentication_methods as Record<string, boolean>).dev, false);
});

/** A server whose database has no organization at the root (only the ones the test adds). */
async function serverWithoutRoot(env: Record<string, string> = {}) {
  const config = testConfig("development", env);
  const database = await openDatabase(":memory:");
  const ctx = createContext({ config, database, secrets: generateSecrets(), hasher: new CountingHasher() });
  const app = await buildApp({ config, ctx });
  const close = async () => {
    await app.close();
    await database.close();
  };
  return { app, ctx, close };
}

test("at the root with no organization: the key set without realm_name, realm_icon, realm_description", async (t) => {
  const server = await serverWithoutRoot();
  t.after(() => server.close());
  await createRealm(server.ctx, { subdomain: "lear", name: "Lear" });
  const res = await server.app.inject({ method: "GET", url: "/api/v1/server_settings", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 200);
  const body = json(res);
  assert.deepEqual(Object.keys(body).sort(), ROOT_KEYS);
  assert.equal(body.realm_url, "http://testserver");
  assert.equal(body.realm_uri, "http://testserver");
  assert.equal(body.realm_web_public_access_enabled, false);
  assert.equal(
    json(await server.app.inject({ method: "GET", url: "/api/v1/server_settings", headers: { host: "lear.testserver" } }))
      .realm_name,
    "Lear",
  );
});

test("ROOT_DOMAIN_LANDING_PAGE: the root without an organization answers 400 Subdomain required", async (t) => {
  const server = await serverWithoutRoot({ LATCHKEY_ROOT_DOMAIN_LANDING_PAGE: "true" });
  t.after(() => server.close());
  const res = await server.app.inject({ method: "GET", url: "/api/v1/server_settings", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(json(res), { result: "error", msg: "Subdomain required", code: "BAD_REQUEST" });
});

test("REALM_HOSTS: the configured host selects the organization, and realm_uri is that host", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_REALM_HOSTS: "lear=chat.lear.example" } });
  t.after(() => server.close());
  const lear = await createRealm(server.ctx, { subdomain: "lear", name: "Lear" });
  const regan = await createAccount(server.ctx, {
    realmId: lear.id,
    email: "regan@lear.example",
    fullName: "Regan",
    password: null,
  });
  for (const host of ["chat.lear.example", "CHAT.lear.example:8443", "lear.testserver"]) {
    const body = json(await settings(server, { host }));
    assert.equal(body.realm_name, "Lear", host);
    // Clients send fetch_api_key to realm_uri: it must be the host the organization is served at.
    assert.equal(body.realm_uri, "http://chat.lear.example", host);
    assert.equal(body.realm_url, "http://chat.lear.example", host);
  }
  assert.equal(json(await settings(server)).realm_uri, "http://testserver");
  const users = json(await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users" }));
  assert.deepEqual((users.direct_users as unknown[])[1], { email: "regan@lear.example", realm_url: "http://chat.lear.example" });
  // The zuliprc the server hands out points at the same place.
  assert.match(await zuliprcFor(server.ctx, regan.user), /^site=http:\/\/chat\.lear\.example$/m);
});
