/**
 * The development-only endpoints (docs/zulip-rules.md §2): `POST /api/v1/dev_fetch_api_key` and
 * `GET /api/v1/dev_list_users`. In development mode they work; in production they are not
 * routed at all, and the answer is the JSON 404 every `/api/` path gets.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import {
  createAccount,
  createRealm,
  setAccountActive,
  setRealmAuthMethods,
  setRealmDeactivated,
} from "../../src/domain/accounts.js";
import { ROLE } from "../../src/domain/model.js";
import { form, json, makeTestServer, PASSWORD, type TestServer } from "../helper.js";
import { InjectBrowser } from "../web/web-helper.js";

function devLogin(server: TestServer, fields: Record<string, string>, host = "testserver"): Promise<LightMyRequestResponse> {
  const { payload, headers } = form(fields);
  return server.app.inject({ method: "POST", url: "/api/v1/dev_fetch_api_key", payload, headers: { ...headers, host } });
}

function assertError(res: LightMyRequestResponse, status: number, body: Record<string, unknown>): void {
  assert.equal(res.statusCode, status, res.body);
  assert.deepEqual(json(res), { result: "error", ...body });
}

test("dev_fetch_api_key: the key of any active user, by email alone, matched case-insensitively", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const [username, user] of [
    ["iago@zulip.com", server.iago],
    ["HAMLET@Zulip.com", server.hamlet],
  ] as const) {
    const res = await devLogin(server, { username });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(json(res), {
      result: "success",
      msg: "",
      api_key: server.keys.get(user.id),
      email: user.deliveryEmail,
      user_id: user.id,
    });
  }
  // The key it hands out works.
  const key = json(await devLogin(server, { username: "iago@zulip.com" })).api_key as string;
  const me = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { authorization: `Basic ${Buffer.from(`iago@zulip.com:${key}`).toString("base64")}` },
  });
  assert.equal(me.statusCode, 200);
  // No password was checked.
  assert.equal(server.hasher.work, 0);
  // Unread parameters are reported as on every typed endpoint.
  assert.deepEqual(
    json(await devLogin(server, { username: "iago@zulip.com", password: PASSWORD })).ignored_parameters_unsupported,
    ["password"],
  );
});

test("dev_fetch_api_key: every error, in §2's order (organization before account)", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx, realm } = server;
  assertError(await devLogin(server, {}), 400, {
    msg: "Missing 'username' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "username",
  });
  // Email syntax before the organization.
  assertError(await devLogin(server, { username: "not-an-email" }, "nowhere.testserver"), 400, {
    msg: "Enter a valid email address.",
    code: "BAD_REQUEST",
  });
  assertError(await devLogin(server, { username: "iago@zulip.com" }, "nowhere.testserver"), 404, {
    msg: "Invalid subdomain",
    code: "NONEXISTENT_SUBDOMAIN",
  });
  const failed = { msg: "Your username or password is incorrect", code: "AUTHENTICATION_FAILED" };
  assertError(await devLogin(server, { username: "nobody@zulip.com" }), 401, failed);

  await setAccountActive(ctx, server.hamlet.id, false);
  assertError(await devLogin(server, { username: "hamlet@zulip.com" }), 401, {
    msg: "Account is deactivated",
    code: "USER_DEACTIVATED",
  });
  await setRealmDeactivated(ctx, realm.id, true);
  const realmGone = { msg: "This organization has been deactivated", code: "REALM_DEACTIVATED" };
  assertError(await devLogin(server, { username: "iago@zulip.com" }), 401, realmGone);
  assertError(await devLogin(server, { username: "hamlet@zulip.com" }), 401, realmGone);
  await setRealmDeactivated(ctx, realm.id, false);

  // Dev login turned off for the organization: no account is found.
  await setRealmAuthMethods(ctx, realm.id, { dev: false });
  assertError(await devLogin(server, { username: "iago@zulip.com" }), 401, failed);
  await setRealmAuthMethods(ctx, realm.id, { dev: true });
  assert.equal((await devLogin(server, { username: "iago@zulip.com" })).statusCode, 200);

  for (const method of ["GET", "PUT", "DELETE"] as const) {
    const res = await server.app.inject({ method, url: "/api/v1/dev_fetch_api_key" });
    assertError(res, 405, { msg: "Method Not Allowed", allowed_methods: ["POST"] });
  }
});

test("dev_list_users: active humans of every organization, admins apart, with their realm URLs", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx } = server;
  const other = await createRealm(ctx, { subdomain: "other", name: "Other" });
  await createAccount(ctx, { realmId: other.id, email: "Owner@other.org", fullName: "Owner", role: ROLE.owner, password: null });
  await createAccount(ctx, { realmId: other.id, email: "guest@other.org", fullName: "Guest", role: ROLE.guest, password: null });
  const gone = await createAccount(ctx, { realmId: other.id, email: "gone@other.org", fullName: "Gone", password: null });
  await setAccountActive(ctx, gone.user.id, false);

  const res = await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(json(res), {
    result: "success",
    msg: "",
    direct_admins: [
      { email: "iago@zulip.com", realm_url: "http://testserver" },
      { email: "Owner@other.org", realm_url: "http://other.testserver" },
    ],
    direct_users: [
      { email: "guest@other.org", realm_url: "http://other.testserver" },
      { email: "hamlet@zulip.com", realm_url: "http://testserver" },
    ],
  });
  const post = await server.app.inject({ method: "POST", url: "/api/v1/dev_list_users" });
  assertError(post, 405, { msg: "Method Not Allowed", allowed_methods: ["GET"] });
});

test("production mode: both endpoints are not routed and answer the JSON 404", async (t) => {
  const server = await makeTestServer({ mode: "production" });
  t.after(() => server.close());
  const notFound = { msg: "Not Found", code: "BAD_REQUEST" };
  const res = await devLogin(server, { username: "iago@zulip.com" });
  assertError(res, 404, notFound);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assertError(await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users" }), 404, notFound);
  assertError(await server.app.inject({ method: "GET", url: "/api/v1/dev_fetch_api_key" }), 404, notFound);
  // And the password endpoint is still there.
  assert.equal(
    (
      await server.app.inject({
        method: "POST",
        url: "/api/v1/fetch_api_key",
        ...form({ username: "iago@zulip.com", password: PASSWORD }),
      })
    ).statusCode,
    200,
  );
  // server_settings says dev login is off.
  const settings = json(await server.app.inject({ method: "GET", url: "/api/v1/server_settings" }));
  assert.equal((settings.authentication_methods as Record<string, boolean>).dev, false);
});

test("dev_fetch_api_key also logs the caller in to the web app, as Zulip's do_login does (§2)", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  // A session id planted before the login is worth nothing after it.
  await browser.login("hamlet@zulip.com", PASSWORD);
  const planted = browser.cookies.get("sessionid");
  assert.ok(planted);

  const { payload, headers } = form({ username: "iago@zulip.com" });
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/dev_fetch_api_key",
    payload,
    headers: { ...headers, host: "testserver", cookie: `sessionid=${planted}` },
  });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(json(res).api_key, server.keys.get(server.iago.id));
  const cookie = ([] as string[]).concat(res.headers["set-cookie"] ?? []).find((c) => c.startsWith("sessionid="));
  assert.ok(cookie, "a session cookie is set");
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/);
  assert.match(cookie, /Path=\//);
  assert.doesNotMatch(cookie, /Secure/, "plain HTTP in development");

  // With that cookie the settings page opens as Iago; the planted one is logged out.
  const session = /^sessionid=([^;]+)/.exec(cookie)?.[1] as string;
  const fresh = new InjectBrowser(server.app);
  fresh.cookies.set("sessionid", session);
  const page = await fresh.get("/settings/account");
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /iago@zulip\.com/);
  const old = new InjectBrowser(server.app);
  old.cookies.set("sessionid", planted);
  const gone = await old.get("/settings/account");
  assert.equal(gone.statusCode, 302);
  assert.equal(gone.headers.location, "/login/?next=%2Fsettings%2Faccount");

  // Whatever the Cookie header holds, the login works and a fresh session is set.
  for (const junk of [
    "sessionid=%E0%A4%A",
    "sessionid=",
    "=;;;=",
    `sessionid=${"a".repeat(300)}`,
    'sessionid="x"; sessionid=y',
  ]) {
    const { payload: p, headers: h } = form({ username: "hamlet@zulip.com" });
    const again = await server.app.inject({
      method: "POST",
      url: "/api/v1/dev_fetch_api_key",
      payload: p,
      headers: { ...h, host: "testserver", cookie: junk },
    });
    assert.equal(again.statusCode, 200, junk);
    assert.match(String(again.headers["set-cookie"]), /^sessionid=[A-Za-z0-9_-]{43};/, junk);
  }

  // A failed dev login sets no cookie.
  const failed = await devLogin(server, { username: "nobody@zulip.com" });
  assert.equal(failed.statusCode, 401);
  assert.equal(failed.headers["set-cookie"], undefined);
});

test("dev_fetch_api_key's session cookie is Secure when the server is reached over HTTPS", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_EXTERNAL_SCHEME: "https" } });
  t.after(() => server.close());
  const res = await devLogin(server, { username: "iago@zulip.com" });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers["set-cookie"]), /^sessionid=[^;]+;.*Secure/);
});
