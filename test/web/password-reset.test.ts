/** Password reset by email: the link, its expiry and single use, Zulip's password rules, the throttle cleared. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAccount } from "../../src/domain/accounts.js";
import { makeTestServer, PASSWORD, type TestServer } from "../helper.js";
import { csrfTokenIn, InjectBrowser, pageError } from "./web-helper.js";

const NEW_PASSWORD = "correct horse battery staple 42";

async function requestReset(server: TestServer, email: string) {
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/accounts/password/reset/");
  return browser.post("/accounts/password/reset/", { _csrf, email });
}

function linkIn(text: string): string {
  const url = /(http:\/\/testserver\/accounts\/password\/reset\/confirm\/\?token=[A-Za-z0-9_%-]+)/.exec(text)?.[1];
  assert.ok(url, `no reset link in: ${text}`);
  return url.replace("http://testserver", "");
}

async function setNewPassword(server: TestServer, path: string, p1: string, p2 = p1) {
  const browser = new InjectBrowser(server.app);
  const page = await browser.get(path);
  if (page.statusCode !== 200) return page;
  const token = /name="token" value="([^"]+)"/.exec(page.body)?.[1] as string;
  return browser.post("/accounts/password/reset/confirm/", {
    _csrf: csrfTokenIn(page.body) as string,
    token,
    new_password1: p1,
    new_password2: p2,
  });
}

test("a reset email's link sets a new password once, and the old one stops working", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const sent = await requestReset(server, "Hamlet@Zulip.com");
  assert.equal(sent.statusCode, 200);
  assert.match(sent.body, /Check your email/);
  assert.equal(server.mailer.sent.length, 1);
  const email = server.mailer.sent[0];
  assert.equal(email?.to, "hamlet@zulip.com");
  const path = linkIn(email?.text ?? "");
  // The token is stored only as a hash.
  const rows = await server.database.db.selectFrom("one_time_tokens").selectAll().execute();
  assert.equal(rows.length, 1);
  assert.ok(!path.includes(rows[0]?.token_hash as string));

  const weak = await setNewPassword(server, path, "password");
  assert.equal(weak.statusCode, 400);
  assert.equal(pageError(weak.body), "The password is too weak.");
  const short = await setNewPassword(server, path, "a1!");
  assert.equal(pageError(short.body), "The password is too short (at least 6 characters).");
  const mismatch = await setNewPassword(server, path, NEW_PASSWORD, `${NEW_PASSWORD}x`);
  assert.equal(pageError(mismatch.body), "The two password fields didn't match.");

  const done = await setNewPassword(server, path, NEW_PASSWORD);
  assert.equal(done.statusCode, 200);
  assert.match(done.body, /Your password has been changed/);
  const reused = await setNewPassword(server, path, NEW_PASSWORD);
  assert.equal(reused.statusCode, 400);
  assert.match(reused.body, /invalid or has expired/);

  const fetch = (password: string) =>
    server.app.inject({
      method: "POST",
      url: "/api/v1/fetch_api_key",
      payload: new URLSearchParams({ username: "hamlet@zulip.com", password }).toString(),
      headers: { host: "testserver", "content-type": "application/x-www-form-urlencoded" },
    });
  assert.equal((await fetch(PASSWORD)).statusCode, 401);
  assert.equal((await fetch(NEW_PASSWORD)).statusCode, 200);
});

test("changing the password clears the login throttle and ends web sessions", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const session = new InjectBrowser(server.app);
  await session.login("hamlet@zulip.com", PASSWORD);
  const attacker = new InjectBrowser(server.app);
  for (let i = 0; i < 5; i++) await attacker.login("hamlet@zulip.com", "guess");
  assert.equal((await attacker.login("hamlet@zulip.com", PASSWORD)).statusCode, 429);
  await requestReset(server, "hamlet@zulip.com");
  const done = await setNewPassword(server, linkIn(server.mailer.sent[0]?.text ?? ""), NEW_PASSWORD);
  assert.equal(done.statusCode, 200);
  assert.equal((await session.get("/settings/account")).statusCode, 302, "the old session ended");
  assert.equal((await new InjectBrowser(server.app).login("hamlet@zulip.com", NEW_PASSWORD)).statusCode, 302);
});

test("reset links expire after 24 hours", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await requestReset(server, "hamlet@zulip.com");
  server.clock.advance(24 * 3600 + 1);
  const res = await setNewPassword(server, linkIn(server.mailer.sent[0]?.text ?? ""), NEW_PASSWORD);
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /invalid or has expired/);
});

test("a user without a password sets a first one", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  await createAccount(server.ctx, { realmId: server.realm.id, email: "new@zulip.com", fullName: "New", password: null });
  await requestReset(server, "new@zulip.com");
  const path = linkIn(server.mailer.sent[0]?.text ?? "");
  const page = await new InjectBrowser(server.app).get(path);
  assert.match(page.body, /Set your password/);
  assert.equal((await setNewPassword(server, path, NEW_PASSWORD)).statusCode, 200);
  assert.equal((await new InjectBrowser(server.app).login("new@zulip.com", NEW_PASSWORD)).statusCode, 302);
});

test("the answer is the same for unknown addresses, and reset emails are limited per address", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const unknown = await requestReset(server, "nobody@zulip.com");
  assert.equal(unknown.statusCode, 200);
  assert.match(unknown.body, /Check your email/);
  assert.doesNotMatch(server.mailer.sent[0]?.text ?? "", /token=/);
  const bad = await requestReset(server, "not an email");
  assert.equal(bad.statusCode, 400);
  assert.equal(pageError(bad.body), "Enter a valid email address.");
  await requestReset(server, "hamlet@zulip.com");
  await requestReset(server, "HAMLET@zulip.com");
  const limited = await requestReset(server, "hamlet@zulip.com");
  assert.equal(limited.statusCode, 429);
  assert.match(pageError(limited.body) ?? "", /too often\. Try again in \d+ seconds\./);
  assert.equal(server.mailer.sent.length, 3);
});

test("a reset link form without the CSRF token is refused", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  await browser.get("/accounts/password/reset/");
  const res = await browser.post("/accounts/password/reset/", { email: "hamlet@zulip.com" });
  assert.equal(res.statusCode, 403);
  assert.equal(server.mailer.sent.length, 0);
  const j = await browser.post("/accounts/password/reset/confirm/", {
    token: "x",
    new_password1: NEW_PASSWORD,
    new_password2: NEW_PASSWORD,
  });
  assert.equal(j.statusCode, 403);
});
