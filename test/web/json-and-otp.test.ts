/** POST /json/fetch_api_key (docs/zulip-rules.md §7.4, §5.1) and the mobile and desktop login flows (§10). */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { decryptForDesktop, otpDecryptApiKey } from "../../src/domain/otp.js";
import { basic, json, makeTestServer, PASSWORD } from "../helper.js";
import { csrfTokenIn, InjectBrowser } from "./web-helper.js";

const otp = () => randomBytes(32).toString("hex");

async function loggedIn(server: Awaited<ReturnType<typeof makeTestServer>>) {
  const browser = new InjectBrowser(server.app);
  await browser.login("iago@zulip.com", PASSWORD);
  const csrf = csrfTokenIn((await browser.get("/settings/account")).body) as string;
  return { browser, csrf };
}

test("/json/fetch_api_key without a session is 401 with the Session challenge", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await server.app.inject({ method: "POST", url: "/json/fetch_api_key", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(json(res), {
    result: "error",
    msg: "Not logged in: API authentication or user session required",
    code: "UNAUTHORIZED",
  });
  assert.equal(res.headers["www-authenticate"], 'Session realm="zulip"');
});

test("/json/fetch_api_key with a session needs the CSRF token", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { browser } = await loggedIn(server);
  const res = await browser.post("/json/fetch_api_key", { password: PASSWORD });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(json(res), {
    result: "error",
    msg: "CSRF error: CSRF token missing.",
    code: "CSRF_FAILED",
    reason: "CSRF token missing.",
  });
  const forged = await browser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": "forged" });
  assert.equal(forged.statusCode, 403);
  assert.equal(json(forged).reason, "CSRF token incorrect.");
});

test("/json/fetch_api_key checks the password again and returns the key", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { browser, csrf } = await loggedIn(server);
  const wrong = await browser.post("/json/fetch_api_key", { password: "nope" }, { "x-csrf-token": csrf });
  assert.equal(wrong.statusCode, 400);
  assert.deepEqual(json(wrong), { result: "error", msg: "Password is incorrect.", code: "BAD_REQUEST" });
  const empty = await browser.post("/json/fetch_api_key", {}, { "x-csrf-token": csrf });
  assert.equal(json(empty).msg, "Password is incorrect.");
  const ok = await browser.post("/json/fetch_api_key", { password: PASSWORD, extra: "1" }, { "x-csrf-token": csrf });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(json(ok), {
    result: "success",
    msg: "",
    api_key: server.keys.get(server.iago.id),
    email: "iago@zulip.com",
    ignored_parameters_unsupported: ["extra"],
  });
  assert.equal(ok.headers["x-ratelimit-limit"], "5");
});

test("/json/fetch_api_key goes through the login throttle", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { browser, csrf } = await loggedIn(server);
  for (let i = 0; i < 5; i++) await browser.post("/json/fetch_api_key", { password: "nope" }, { "x-csrf-token": csrf });
  const res = await browser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf });
  assert.equal(res.statusCode, 429);
  assert.equal(json(res).code, "RATE_LIMIT_HIT");
});

test("/json/fetch_api_key: a deactivated session user is 401; HTTP Basic is refused as no session at all", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { browser, csrf } = await loggedIn(server);
  const key = server.keys.get(server.iago.id) as string;
  const viaBasic = await server.app.inject({
    method: "POST",
    url: "/json/fetch_api_key",
    payload: `password=${encodeURIComponent(PASSWORD)}`,
    headers: {
      host: "testserver",
      authorization: basic("iago@zulip.com", key),
      "content-type": "application/x-www-form-urlencoded",
    },
  });
  // Basic belongs to /api (current Zulip's rest_dispatch): without a session it is 401 with the
  // Session challenge, so a browser's cached Basic credentials cannot skip the CSRF check.
  assert.equal(viaBasic.statusCode, 401);
  assert.equal(viaBasic.headers["www-authenticate"], 'Session realm="zulip"');
  assert.equal(json(viaBasic).code, "UNAUTHORIZED");
  // The same on the bots API under /json, for reading and for changing.
  for (const method of ["GET", "POST"] as const) {
    const bots = await server.app.inject({
      method,
      url: "/json/bots",
      headers: { host: "testserver", authorization: basic("iago@zulip.com", key) },
    });
    assert.equal(bots.statusCode, 401, method);
    assert.equal(bots.headers["www-authenticate"], 'Session realm="zulip"', method);
  }
  // With a session and its CSRF token, the password check goes on as usual.
  assert.equal((await browser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf })).statusCode, 200);
  await server.ctx.stores.users.update(server.iago.id, { isActive: false });
  const res = await browser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(json(res), { result: "error", msg: "Account is deactivated", code: "USER_DEACTIVATED" });
});

test("mobile flow: bad and doubled OTPs are refused", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const bad of ["abc", "g".repeat(64), "a".repeat(63), "a".repeat(65), ""]) {
    const res = await server.app.inject({
      method: "GET",
      url: `/login/?mobile_flow_otp=${bad}`,
      headers: { host: "testserver" },
    });
    assert.equal(res.statusCode, 400, bad);
    assert.match(res.body, /Invalid OTP/);
    const desk = await server.app.inject({
      method: "GET",
      url: `/login/?desktop_flow_otp=${bad}`,
      headers: { host: "testserver" },
    });
    assert.equal(desk.statusCode, 400, bad);
    assert.match(desk.body, /Invalid OTP/);
  }
  const both = await server.app.inject({
    method: "GET",
    url: `/login/?mobile_flow_otp=${otp()}&desktop_flow_otp=${otp()}`,
    headers: { host: "testserver" },
  });
  assert.equal(both.statusCode, 400);
  assert.match(both.body, /Can&#39;t use both mobile_flow_otp and desktop_flow_otp together\./);
  const browser = new InjectBrowser(server.app);
  const posted = await browser.login("iago@zulip.com", PASSWORD, { mobile_flow_otp: "zz" });
  assert.equal(posted.statusCode, 400);
  assert.match(posted.body, /Invalid OTP/);
  assert.equal(browser.cookies.has("sessionid"), false);
});

test("mobile flow: a login ends in a zulip:// redirect whose key decrypts to the user's key", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const pad = otp().toUpperCase();
  const browser = new InjectBrowser(server.app);
  const page = await browser.get(`/login/?mobile_flow_otp=${pad}`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, new RegExp(`name="mobile_flow_otp" value="${pad}"`));
  const res = await browser.login("iago@zulip.com", PASSWORD, { mobile_flow_otp: pad });
  assert.equal(res.statusCode, 302);
  const location = String(res.headers.location);
  assert.match(
    location,
    /^zulip:\/\/login\?otp_encrypted_api_key=[0-9a-f]{64}&email=iago%40zulip\.com&user_id=\d+&realm=http%3A%2F%2Ftestserver$/,
  );
  const params = new URL(location).searchParams;
  assert.equal(otpDecryptApiKey(params.get("otp_encrypted_api_key") as string, pad), server.keys.get(server.iago.id));
  assert.equal(params.get("user_id"), String(server.iago.id));
  assert.equal(browser.cookies.has("sessionid"), false, "the mobile flow creates no browser session");
});

test("desktop flow: the page carries an encrypted one-time token that opens a session once, within 15 s", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const pad = otp();
  const res = await new InjectBrowser(server.app).login("iago@zulip.com", PASSWORD, { desktop_flow_otp: pad });
  assert.equal(res.statusCode, 200);
  const data = /<textarea id="desktop-data"[^>]*>([0-9a-f]+)<\/textarea>/.exec(res.body)?.[1] as string;
  const token = decryptForDesktop(data, pad);
  assert.match(token, /^[A-Za-z0-9]{32}$/);
  const desktop = new InjectBrowser(server.app);
  const redeemed = await desktop.get(`/accounts/login/subdomain/${token}`);
  assert.equal(redeemed.statusCode, 302);
  assert.ok(desktop.cookies.has("sessionid"));
  const again = await new InjectBrowser(server.app).get(`/accounts/login/subdomain/${token}`);
  assert.equal(again.statusCode, 400);

  const late = await new InjectBrowser(server.app).login("iago@zulip.com", PASSWORD, { desktop_flow_otp: pad });
  const lateToken = decryptForDesktop(
    /<textarea id="desktop-data"[^>]*>([0-9a-f]+)<\/textarea>/.exec(late.body)?.[1] as string,
    pad,
  );
  server.clock.advance(16);
  assert.equal((await new InjectBrowser(server.app).get(`/accounts/login/subdomain/${lateToken}`)).statusCode, 400);
});

test("/json/fetch_api_key in an organization without password login returns the key without asking", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await server.ctx.stores.realms.update(server.realm.id, { authMethods: { email: false } });
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  assert.equal((await browser.post("/accounts/login/dev/", { _csrf, username: "iago@zulip.com" })).statusCode, 302);
  const page = await browser.get("/settings/account");
  assert.match(page.body, /data-password-required="false"/);
  const csrf = csrfTokenIn(page.body) as string;
  const res = await browser.post("/json/fetch_api_key", {}, { "x-csrf-token": csrf });
  assert.equal(res.statusCode, 200);
  assert.equal(json(res).api_key, server.keys.get(server.iago.id));
  assert.equal(server.hasher.work, 0);
});

test("a browser opening a /json URL without a session is sent to the login page; API clients get the 401", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const get = (accept?: string) =>
    server.app.inject({ method: "GET", url: "/json/bots", headers: { host: "testserver", ...(accept ? { accept } : {}) } });
  const browserNav = await get("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
  assert.equal(browserNav.statusCode, 302);
  assert.equal(browserNav.headers.location, "/login/?next=%2Fjson%2Fbots");
  for (const accept of [undefined, "*/*", "application/json", "application/json, text/html;q=0.5", "text/html;q=0.5, */*"]) {
    const res = await get(accept);
    assert.equal(res.statusCode, 401, String(accept));
    assert.equal(json(res).code, "UNAUTHORIZED");
  }
});
