/** Email: the new-login notice with Zulip's exceptions, over real SMTP and into the development outbox. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { formatLoginTime, newLoginEmail } from "../../src/domain/login-notification.js";
import { createLogger } from "../../src/logging.js";
import { makeTestServer, PASSWORD, type TestServer } from "../helper.js";
import { makeCertificates } from "../tls-helper.js";
import { header, startSmtp, textBody } from "./smtp-helper.js";
import { InjectBrowser } from "./web-helper.js";

const CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

function fetchApiKey(server: TestServer, userAgent = CHROME_LINUX) {
  return server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    payload: new URLSearchParams({ username: "iago@zulip.com", password: PASSWORD }).toString(),
    headers: { host: "testserver", "content-type": "application/x-www-form-urlencoded", "user-agent": userAgent },
    remoteAddress: "203.0.113.7",
  });
}

/** Lets the background send finish. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("new-login email: none in the first minute after signup, then one per login", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  assert.equal((await fetchApiKey(server)).statusCode, 200);
  await settle();
  assert.equal(server.mailer.sent.length, 0, "an account created under a minute ago gets no email");
  server.clock.advance(61);
  await fetchApiKey(server);
  await settle();
  assert.equal(server.mailer.sent.length, 1);
  const email = server.mailer.sent[0];
  assert.equal(email?.to, "iago@zulip.com");
  assert.equal(email?.subject, "New login from Chrome on Linux");
  assert.match(email?.text ?? "", /IP address: 203\.0\.113\.7/);
  assert.match(email?.text ?? "", /Time: Thursday, January 01, 2026 at 12:01 AM UTC/);
});

test("new-login email after dev_fetch_api_key, the web login and the mobile flow; not when turned off", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  server.clock.advance(120);
  await server.app.inject({
    method: "POST",
    url: "/api/v1/dev_fetch_api_key",
    payload: "username=iago%40zulip.com",
    headers: {
      host: "testserver",
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "ZulipMobile/27.1 (Android 14)",
    },
  });
  await new InjectBrowser(server.app).login("iago@zulip.com", PASSWORD);
  await new InjectBrowser(server.app).login("iago@zulip.com", PASSWORD, { mobile_flow_otp: "ab".repeat(32) });
  await settle();
  assert.equal(server.mailer.sent.length, 3);
  assert.equal(server.mailer.sent[0]?.subject, "New login from Zulip on Android");

  await server.database.db.updateTable("users").set({ enable_login_emails: 0 }).where("id", "=", server.iago.id).execute();
  await fetchApiKey(server);
  await settle();
  assert.equal(server.mailer.sent.length, 3, "the user turned login emails off");
});

test("new-login email: SEND_LOGIN_EMAILS off, and the time in the user's zone and clock", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_SEND_LOGIN_EMAILS: "false" } });
  t.after(() => server.close());
  server.clock.advance(120);
  await fetchApiKey(server);
  await settle();
  assert.equal(server.mailer.sent.length, 0);
  assert.equal(
    formatLoginTime(Date.UTC(2026, 6, 4, 18, 5), "America/New_York", false),
    "Saturday, July 04, 2026 at 02:05 PM EDT",
  );
  assert.equal(formatLoginTime(Date.UTC(2026, 6, 4, 18, 5), "Europe/Berlin", true), "Saturday, July 04, 2026 at 20:05 GMT+2");
  const user = { ...server.iago, dateJoined: 0 };
  const unknown = newLoginEmail(
    { sendLoginEmails: true, realmUrl: () => "http://testserver" },
    server.clock,
    user,
    server.realm,
    {
      ip: "",
      userAgent: "",
      client: "",
    },
  );
  assert.equal(unknown?.subject, "New login from An unknown browser on an unknown operating system");
  assert.match(unknown?.text ?? "", /IP address: Unknown IP address/);
});

test("with SMTP configured, emails go to the SMTP server over STARTTLS", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "latchkey-smtp-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certificates = makeCertificates(dir);
  const smtp = await startSmtp(certificates);
  t.after(() => smtp.close());
  const server = await makeTestServer({
    env: {
      LATCHKEY_SMTP_URL: smtp.url,
      LATCHKEY_SMTP_CA_FILE: certificates.ca,
      LATCHKEY_EMAIL_FROM: "Latchkey <noreply@zulip.com>",
    },
  });
  t.after(() => server.close());
  server.clock.advance(61);
  await fetchApiKey(server);
  const [message] = await smtp.waitFor(1);
  assert.equal(message?.secure, true, "the message travelled over TLS");
  assert.deepEqual(message?.to, ["iago@zulip.com"]);
  assert.equal(message?.from, "noreply@zulip.com");
  assert.equal(header(message?.raw ?? "", "Subject"), "New login from Chrome on Linux");
  assert.match(textBody(message?.raw ?? ""), /there was a login to your account \(iago@zulip\.com\)/);
  assert.equal(server.mailer.sent.length, 0);
});

test("a mail server without STARTTLS gets nothing unless LATCHKEY_SMTP_REQUIRE_TLS is turned off; the login succeeds either way", async (t) => {
  const plain = await startSmtp();
  t.after(() => plain.close());
  const lines: string[] = [];
  const logger = createLogger(
    "warn",
    new Writable({ write: (chunk: Buffer, _encoding, done) => done(void lines.push(chunk.toString("utf8"))) }),
  );
  const strict = await makeTestServer({ env: { LATCHKEY_SMTP_URL: plain.url }, logger });
  t.after(() => strict.close());
  strict.clock.advance(61);
  assert.equal((await fetchApiKey(strict)).statusCode, 200);
  for (let i = 0; i < 200 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(lines.join(""), /could not send the new-login email/);
  assert.equal(plain.received.length, 0, "nothing was sent in the clear");

  const relaxed = await makeTestServer({ env: { LATCHKEY_SMTP_URL: plain.url, LATCHKEY_SMTP_REQUIRE_TLS: "false" } });
  t.after(() => relaxed.close());
  relaxed.clock.advance(61);
  await fetchApiKey(relaxed);
  const [message] = await plain.waitFor(1);
  assert.equal(message?.secure, false);
  assert.deepEqual(message?.to, ["iago@zulip.com"]);
});

test("a failing SMTP server does not fail the login", async (t) => {
  const smtp = await startSmtp();
  const url = smtp.url;
  await smtp.close();
  const server = await makeTestServer({ env: { LATCHKEY_SMTP_URL: url } });
  t.after(() => server.close());
  server.clock.advance(61);
  assert.equal((await fetchApiKey(server)).statusCode, 200);
});

test("without SMTP, development emails land in the outbox folder and on /devtools/emails", async (t) => {
  const outbox = await mkdtemp(join(tmpdir(), "latchkey-outbox-"));
  t.after(() => rm(outbox, { recursive: true, force: true }));
  const server = await makeTestServer({ env: { LATCHKEY_EMAIL_OUTBOX: outbox } });
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/accounts/password/reset/");
  await browser.post("/accounts/password/reset/", { _csrf, email: "hamlet@zulip.com" });
  const files = (await readdir(outbox)).sort();
  assert.equal(files.length, 2);
  assert.ok(files.some((f) => f.endsWith(".eml")));
  const page = await browser.get("/devtools/emails");
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /Reset your password for Zulip Dev/);
  assert.match(page.body, /<a href="http:\/\/testserver\/accounts\/password\/reset\/confirm\/\?token=/);
  // The organization's URL ends a sentence: the full stop stays out of the link.
  assert.match(page.body, /on <a href="http:\/\/testserver">http:\/\/testserver<\/a>\.\n/);

  const production = await makeTestServer({ mode: "production", env: { LATCHKEY_EMAIL_OUTBOX: outbox } });
  t.after(() => production.close());
  const res = await production.app.inject({ method: "GET", url: "/devtools/emails", headers: { host: "testserver" } });
  assert.equal(res.statusCode, 404);
});
