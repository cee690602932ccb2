/**
 * Sessions end when trust ends: setting a password (from the CLI's setPassword or a reset link)
 * ends the account's web sessions, its outstanding reset links and its desktop login tokens;
 * deactivating an account or an organization ends all of them, and reactivating brings none
 * back; regenerating an API key ends no web session (as in Zulip).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { setAccountActive, setPassword, setRealmDeactivated } from "../../src/domain/accounts.js";
import { changeActivation } from "../../src/domain/bots.js";
import { decryptForDesktop } from "../../src/domain/otp.js";
import { basic, makeTestServer, PASSWORD, type TestServer } from "../helper.js";
import { csrfTokenIn, InjectBrowser } from "./web-helper.js";

const NEW_PASSWORD = "correct horse battery staple 42";
const CLI = { ip: "", client: "latchkey CLI" };

/** What trust in Hamlet has given out: two browser sessions, a reset link, a desktop login token. */
interface Handed {
  browsers: InjectBrowser[];
  resetPath: string;
  desktopToken: string;
}

async function handOut(server: TestServer): Promise<Handed> {
  const browsers = [new InjectBrowser(server.app), new InjectBrowser(server.app)];
  for (const browser of browsers) assert.equal((await browser.login("hamlet@zulip.com", PASSWORD)).statusCode, 302);
  const asker = new InjectBrowser(server.app);
  await asker.post("/accounts/password/reset/", {
    _csrf: await asker.csrfFrom("/accounts/password/reset/"),
    email: "hamlet@zulip.com",
  });
  const mail = server.mailer.sent.at(-1)?.text ?? "";
  const resetPath = /http:\/\/testserver(\/accounts\/password\/reset\/confirm\/\?token=[A-Za-z0-9_%-]+)/.exec(
    mail,
  )?.[1] as string;
  assert.ok(resetPath, "a reset link was mailed");
  const pad = randomBytes(32).toString("hex");
  const desktop = await new InjectBrowser(server.app).login("hamlet@zulip.com", PASSWORD, { desktop_flow_otp: pad });
  const desktopToken = decryptForDesktop(
    /<textarea id="desktop-data"[^>]*>([0-9a-f]+)<\/textarea>/.exec(desktop.body)?.[1] as string,
    pad,
  );
  // All of it works before the event.
  for (const browser of browsers) assert.equal((await browser.get("/settings/account")).statusCode, 200);
  assert.equal((await new InjectBrowser(server.app).get(resetPath)).statusCode, 200);
  return { browsers, resetPath, desktopToken };
}

/** Each of them, as the holder would see it now. */
async function whatStillWorks(server: TestServer, handed: Handed): Promise<string[]> {
  const works: string[] = [];
  for (const [i, browser] of handed.browsers.entries()) {
    if ((await browser.get("/settings/account")).statusCode === 200) works.push(`session ${i + 1}`);
  }
  if ((await new InjectBrowser(server.app).get(handed.resetPath)).statusCode === 200) works.push("reset link");
  if ((await new InjectBrowser(server.app).get(`/accounts/login/subdomain/${handed.desktopToken}`)).statusCode === 302) {
    works.push("desktop token");
  }
  return works;
}

test("setting a password from the CLI ends every session, reset link and desktop token of the account", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const handed = await handOut(server);
  const iago = new InjectBrowser(server.app);
  await iago.login("iago@zulip.com", PASSWORD);
  await setPassword(server.ctx, server.hamlet, NEW_PASSWORD);
  assert.deepEqual(await whatStillWorks(server, handed), []);
  // Other accounts are untouched.
  assert.equal((await iago.get("/settings/account")).statusCode, 200);
});

test("a password set through a reset link ends the account's sessions, other reset links and desktop token", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const first = await handOut(server);
  // A second link, used now; the first link is one of the things that must stop working.
  const asker = new InjectBrowser(server.app);
  await asker.post("/accounts/password/reset/", {
    _csrf: await asker.csrfFrom("/accounts/password/reset/"),
    email: "hamlet@zulip.com",
  });
  const mail = server.mailer.sent.at(-1)?.text ?? "";
  const secondPath = /http:\/\/testserver(\/accounts\/password\/reset\/confirm\/\?token=[A-Za-z0-9_%-]+)/.exec(
    mail,
  )?.[1] as string;
  const page = await asker.get(secondPath);
  const token = /name="token" value="([^"]+)"/.exec(page.body)?.[1] as string;
  const done = await asker.post("/accounts/password/reset/confirm/", {
    _csrf: csrfTokenIn(page.body) as string,
    token,
    new_password1: NEW_PASSWORD,
    new_password2: NEW_PASSWORD,
  });
  assert.equal(done.statusCode, 200);
  assert.deepEqual(await whatStillWorks(server, first), []);
});

test("deactivating an account ends its sessions, reset links and desktop token, and reactivating revives none", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const handed = await handOut(server);
  await changeActivation(server.ctx, server.hamlet, false, null, CLI);
  await changeActivation(server.ctx, { ...server.hamlet, isActive: false }, true, null, CLI);
  assert.deepEqual(await whatStillWorks(server, handed), []);
  // The same through the account administration used by LDAP.
  const again = await handOut(server);
  await setAccountActive(server.ctx, server.hamlet.id, false);
  await setAccountActive(server.ctx, server.hamlet.id, true);
  assert.deepEqual(await whatStillWorks(server, again), []);
  // The account itself works again: a new login starts a new session.
  assert.equal((await new InjectBrowser(server.app).login("hamlet@zulip.com", PASSWORD)).statusCode, 302);
});

test("deactivating an organization ends every session, reset link and desktop token in it, and reactivating revives none", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const handed = await handOut(server);
  const iago = new InjectBrowser(server.app);
  await iago.login("iago@zulip.com", PASSWORD);
  await setRealmDeactivated(server.ctx, server.realm.id, true);
  await setRealmDeactivated(server.ctx, server.realm.id, false);
  assert.deepEqual(await whatStillWorks(server, handed), []);
  assert.equal((await iago.get("/settings/account")).statusCode, 302, "Iago's session ended too");
});

test("regenerating the API key ends no web session, reset link or desktop token", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const handed = await handOut(server);
  const key = server.keys.get(server.hamlet.id) as string;
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/users/me/api_key/regenerate",
    headers: { authorization: basic("hamlet@zulip.com", key) },
  });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await whatStillWorks(server, handed), ["session 1", "session 2", "reset link", "desktop token"]);
});
