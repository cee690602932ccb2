/** The login page, sessions, logout, CSRF and the security headers, through app.inject(). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { redactUrl } from "../../src/logging.js";
import { basic, json, makeTestServer, PASSWORD } from "../helper.js";
import { InjectBrowser, pageError } from "./web-helper.js";

test("the login page carries a CSP without inline script and lists the demo users in development", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await server.app.inject({ method: "GET", url: "/login/", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  const csp = String(res.headers["content-security-policy"]);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers["x-frame-options"], "DENY");
  assert.equal(res.headers["x-content-type-options"], "nosniff");
  assert.doesNotMatch(res.body, /<script>|<script [^>]*>[^<]|on(click|load|submit)=/i, "no inline script or handlers");
  assert.doesNotMatch(res.body, /style="/, "no inline style");
  assert.match(res.body, /<label for="id_username">Email<\/label>/);
  assert.match(res.body, /Log in as|iago@zulip\.com/);
  assert.match(res.body, /hamlet@zulip\.com/);
});

test("production hides the development login list", async (t) => {
  const server = await makeTestServer({ mode: "production" });
  t.after(() => server.close());
  const res = await server.app.inject({ method: "GET", url: "/login/", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 200);
  assert.doesNotMatch(res.body, /Development login/);
  const dev = await server.app.inject({ method: "POST", url: "/accounts/login/dev/", headers: { host: "testserver" } });
  assert.equal(dev.statusCode, 404);
});

test("the API hot path gets none of the web app's headers or cookies", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const key = server.keys.get(server.iago.id) as string;
  const res = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { host: "testserver", authorization: basic("iago@zulip.com", key) },
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["content-security-policy"], undefined);
  assert.equal(res.headers["set-cookie"], undefined);
});

test("logging in sets an HttpOnly, SameSite=Lax session cookie and redirects to the settings", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const res = await browser.login("iago@zulip.com", PASSWORD);
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, "/settings/account");
  const cookie = ([] as string[]).concat(res.headers["set-cookie"] ?? []).find((c) => c.startsWith("sessionid="));
  assert.ok(cookie, "a session cookie is set");
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/);
  assert.doesNotMatch(cookie, /Secure/, "no Secure flag over plain HTTP");
  const page = await browser.get("/settings/account");
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Manage your API key/);
  // The database holds only a hash of the session id.
  const id = browser.cookies.get("sessionid") as string;
  const rows = await server.database.db.selectFrom("web_sessions").selectAll().execute();
  assert.equal(rows.length, 1);
  assert.notEqual(rows[0]?.id_hash, id);
  assert.ok(!JSON.stringify(rows).includes(id));
});

test("over HTTPS the session and CSRF cookies are Secure", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_EXTERNAL_SCHEME: "https" } });
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const page = await browser.get("/login/");
  const csrfCookie = ([] as string[]).concat(page.headers["set-cookie"] ?? []).find((c) => c.startsWith("csrftoken="));
  assert.match(csrfCookie ?? "", /Secure/);
  const res = await browser.login("iago@zulip.com", PASSWORD);
  const cookie = ([] as string[]).concat(res.headers["set-cookie"] ?? []).find((c) => c.startsWith("sessionid="));
  assert.match(cookie ?? "", /; Secure/);
  assert.match(cookie ?? "", /HttpOnly/);
});

test("a login form without a valid CSRF token is refused and logs nobody in", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  await browser.get("/login/");
  const missing = await browser.post("/login/", { username: "iago@zulip.com", password: PASSWORD });
  assert.equal(missing.statusCode, 403);
  assert.match(missing.body, /CSRF token missing/);
  const wrong = await browser.post("/login/", { _csrf: "forged", username: "iago@zulip.com", password: PASSWORD });
  assert.equal(wrong.statusCode, 403);
  assert.match(wrong.body, /CSRF token incorrect/);
  const noCookie = await new InjectBrowser(server.app).post("/login/", {
    _csrf: "x",
    username: "iago@zulip.com",
    password: PASSWORD,
  });
  assert.equal(noCookie.statusCode, 403);
  assert.match(noCookie.body, /CSRF cookie not set/);
  assert.match(noCookie.body, /cookies must be enabled\.<\/p>/, "no HTTPS hint on a plain-HTTP server");
  assert.equal(browser.cookies.has("sessionid"), false);
  assert.equal(server.hasher.work, 0, "no password was checked");
});

test("wrong passwords get fetch_api_key's message and throttle, and cost one verification each", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  for (const username of ["iago@zulip.com", "nobody@zulip.com"]) {
    const before = server.hasher.work;
    const res = await browser.login(username, "wrong password");
    assert.equal(res.statusCode, 401);
    assert.equal(pageError(res.body), "Your username or password is incorrect");
    assert.equal(server.hasher.work - before, 1);
  }
  const bad = await browser.login("not an email", "x");
  assert.equal(bad.statusCode, 400);
  assert.equal(pageError(bad.body), "Enter a valid email address.");
  for (let i = 0; i < 4; i++) await browser.login("iago@zulip.com", "wrong password");
  const limited = await browser.login("iago@zulip.com", PASSWORD);
  assert.equal(limited.statusCode, 429);
  assert.match(pageError(limited.body) ?? "", /^Too many login attempts for this account\. Try again in \d+ seconds\.$/);
  assert.ok(limited.headers["retry-after"]);
  assert.equal(browser.cookies.has("sessionid"), false);
});

test("a deactivated account cannot log in on the web", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await server.ctx.stores.users.update(server.hamlet.id, { isActive: false });
  const res = await new InjectBrowser(server.app).login("hamlet@zulip.com", PASSWORD);
  assert.equal(res.statusCode, 401);
  assert.equal(pageError(res.body), "Account is deactivated");
});

test("next= only redirects within the site", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const [next, expected] of [
    ["/settings/account", "/settings/account"],
    ["//evil.example/", "/settings/account"],
    ["https://evil.example/", "/settings/account"],
    ["/\\evil.example", "/settings/account"],
    ["/\t/evil.example", "/settings/account"],
    ["/%2F/ok", "/%2F/ok"],
    ["/settings/bots?x=1", "/settings/bots?x=1"],
  ]) {
    const res = await new InjectBrowser(server.app).login("iago@zulip.com", PASSWORD, { next: next as string });
    assert.equal(res.headers.location, expected, next);
  }
});

test("settings pages send visitors without a session to the login page", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await server.app.inject({ method: "GET", url: "/settings/account", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, "/login/?next=%2Fsettings%2Faccount");
});

test("logging out ends the session on the server", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  await browser.login("iago@zulip.com", PASSWORD);
  const stolen = browser.cookies.get("sessionid") as string;
  const page = await browser.get("/settings/account");
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] as string;
  const out = await browser.post("/accounts/logout/", { _csrf: csrf });
  assert.equal(out.statusCode, 302);
  assert.equal(out.headers.location, "/login/");
  assert.equal(browser.cookies.has("sessionid"), false);
  // The old cookie, replayed, is worth nothing.
  const replay = await server.app.inject({
    method: "POST",
    url: "/json/fetch_api_key",
    headers: { host: "testserver", cookie: `sessionid=${stolen}` },
  });
  assert.equal(replay.statusCode, 401);
  assert.equal(json(replay).msg, "Not logged in: API authentication or user session required");
});

test("sessions expire after two weeks", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  await browser.login("iago@zulip.com", PASSWORD);
  assert.equal((await browser.get("/settings/account")).statusCode, 200);
  server.clock.advance(14 * 24 * 3600 + 1);
  assert.equal((await browser.get("/settings/account")).statusCode, 302);
});

test("form posts count against the per-address limit, answered as a page", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_IP: "60:3" } });
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  for (let i = 0; i < 3; i++) await browser.post("/login/", { _csrf, username: `u${i}@zulip.com`, password: "x" });
  const res = await browser.post("/login/", { _csrf, username: "iago@zulip.com", password: PASSWORD });
  assert.equal(res.statusCode, 429);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.match(res.body, /<h1>Too many requests<\/h1><p>Too many requests from your address\. Try again in \d+ seconds\.<\/p>/);
  assert.ok(res.headers["retry-after"]);
});

test("where the organization maps LDAP usernames, the field asks for an LDAP username", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  // Only the login page's wording is under test here; the LDAP tests use a real directory.
  server.ctx.ldap = {
    name: "ldap",
    configured: true,
    requiresEmailUsernames: false,
    accountName: (name: string) => name,
    managesEmail: async () => false,
    authenticate: async () => null,
  };
  await server.ctx.stores.realms.update(server.realm.id, { authMethods: { ldap: true } });
  const res = await server.app.inject({ method: "GET", url: "/login/", headers: { host: "testserver" } });
  assert.match(res.body, /<label for="id_username">LDAP username<\/label>/);
  assert.match(res.body, /id="id_username" name="username" type="text"/);
  // A plain username is not refused as a malformed email.
  const login = await new InjectBrowser(server.app).login("hamlet", "wrong");
  assert.equal(pageError(login.body), "Your username or password is incorrect");
});

test("the development login buttons log in, and say why when they cannot", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  const ok = await browser.post("/accounts/login/dev/", { _csrf, username: "hamlet@zulip.com" });
  assert.equal(ok.statusCode, 302);
  assert.ok(browser.cookies.has("sessionid"));
  await server.ctx.stores.users.update(server.iago.id, { isActive: false });
  const other = new InjectBrowser(server.app);
  const csrf2 = await other.csrfFrom("/login/");
  const refused = await other.post("/accounts/login/dev/", { _csrf: csrf2, username: "iago@zulip.com" });
  assert.equal(refused.statusCode, 401);
  assert.equal(pageError(refused.body), "Account is deactivated");
  const missing = await other.post("/accounts/login/dev/", { _csrf: csrf2, username: "nobody@zulip.com" });
  assert.equal(pageError(missing.body), "Your username or password is incorrect");
});

test("log lines never show a reset token or a desktop login token", () => {
  assert.equal(redactUrl("/accounts/password/reset/confirm/?token=abc123"), "/accounts/password/reset/confirm/?token=[redacted]");
  assert.equal(redactUrl("/accounts/login/subdomain/AbCdEf0123"), "/accounts/login/subdomain/[redacted]");
  assert.equal(redactUrl("/login/?mobile_flow_otp=00ff"), "/login/?mobile_flow_otp=[redacted]");
});

test("only zxcvbn's browser builds are served from the packages", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const get = (url: string) => server.app.inject({ method: "GET", url, headers: { host: "testserver" } });
  const core = await get("/static/vendor/zxcvbn-core/zxcvbn-ts.min.js");
  assert.equal(core.statusCode, 200);
  assert.match(core.body, /zxcvbnts/);
  assert.equal((await get("/static/vendor/zxcvbn-common/zxcvbn-ts.min.js")).statusCode, 200);
  assert.equal((await get("/static/vendor/zxcvbn-core/index.js")).statusCode, 404);
  assert.equal((await get("/static/vendor/zxcvbn-core/../package.json")).statusCode, 404);
  assert.equal((await get("/static/app.css")).statusCode, 200);
});

test("a server set up for HTTPS explains a missing form cookie with the https:// hint", async (t) => {
  // Secure cookies never come back from a browser on plain HTTP; the page must not blame cookies alone.
  const server = await makeTestServer({ mode: "production", env: { LATCHKEY_EXTERNAL_SCHEME: "https" } });
  t.after(() => server.close());
  const res = await new InjectBrowser(server.app).post("/login/", { _csrf: "x", username: "iago@zulip.com", password: PASSWORD });
  assert.equal(res.statusCode, 403);
  assert.match(
    res.body,
    /CSRF cookie not set\.\) Reload the page and try again; cookies must be enabled, and this server must be opened over https:\/\/\./,
  );
});
