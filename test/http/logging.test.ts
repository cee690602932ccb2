/**
 * No secret in any log line, and a request id on every line and every 500. The server's own
 * logger settings (loggerOptions) write to memory while a full run of flows goes by.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { InjectOptions } from "fastify";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import { MemoryMailer } from "../../src/domain/mailer.js";
import { ROLE } from "../../src/domain/model.js";
import { decryptForDesktop } from "../../src/domain/otp.js";
import { createLogger, redactUrl } from "../../src/logging.js";
import { generateSecrets } from "../../src/secrets.js";
import { openDatabase } from "../../src/store/database.js";
import { basic, CountingHasher, form, ManualClock, memoryLog, PASSWORD, testConfig } from "../helper.js";
import { csrfTokenIn, InjectBrowser } from "../web/web-helper.js";

test("a full run of flows logs no password, API key or server secret, and every line has its request id", async (t) => {
  const config = testConfig("development");
  const database = await openDatabase(":memory:");
  const secrets = generateSecrets();
  const { stream, lines } = memoryLog();
  const logger = createLogger("trace", stream);
  const ctx = createContext({ config, database, secrets, hasher: new CountingHasher(), clock: new ManualClock(), log: logger });
  const app = await buildApp({ config, ctx, logger });
  t.after(async () => {
    await app.close();
    await database.close();
  });
  // A route that exists only here, to force an unexpected error.
  app.get("/api/v1/test-only/crash", async () => {
    throw new Error("database exploded");
  });

  const realm = await createRealm(ctx, { subdomain: "", name: "Zulip Dev" });
  const iago = await createAccount(ctx, {
    realmId: realm.id,
    email: "iago@zulip.com",
    fullName: "Iago",
    role: ROLE.administrator,
    password: PASSWORD,
  });
  const hamlet = await createAccount(ctx, {
    realmId: realm.id,
    email: "hamlet@zulip.com",
    fullName: "Hamlet",
    password: PASSWORD,
  });
  const secretsInPlay = new Set<string>([PASSWORD, encodeURIComponent(PASSWORD), iago.apiKey, hamlet.apiKey]);
  for (const value of Object.values(secrets)) {
    secretsInPlay.add(value.toString("base64"));
    secretsInPlay.add(value.toString("hex"));
  }
  const queryPasswords = ["QueryPassw0rd-1", "QueryPassw0rd-2", "QueryPassw0rd-3", "QueryPassw0rd-4", "QueryPassw0rd-5"];
  for (const p of queryPasswords) secretsInPlay.add(p);
  const requestIds: string[] = [];
  const send = async (options: InjectOptions) => {
    const res = await app.inject(options);
    requestIds.push(res.headers["x-request-id"] as string);
    return res;
  };

  // Logins: right, wrong, in the body and in the query string (however the name is spelled).
  const login = await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: PASSWORD }),
  });
  assert.equal(login.statusCode, 200);
  await send({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: "iago@zulip.com", password: `${PASSWORD}x` }) });
  secretsInPlay.add(`${PASSWORD}x`);
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&password=${queryPasswords[0]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&pass%77ord=${queryPasswords[1]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&PASSWORD=${queryPasswords[2]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?password[]=${queryPasswords[3]}&username=x` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=x&password=${queryPasswords[4]}#frag` });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({ password: PASSWORD }),
  });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    headers: { "content-type": "multipart/form-data" },
    payload: `password=${PASSWORD}`,
  });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "p".repeat(2_000_000) }),
  });
  // Key use: good and bad Basic credentials, a key in the query string.
  assert.equal(
    (await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic("iago@zulip.com", iago.apiKey) } }))
      .statusCode,
    200,
  );
  await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic("iago@zulip.com", hamlet.apiKey) } });
  await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: `Basic ${PASSWORD}` } });
  await send({ method: "GET", url: `/api/v1/users/me?api_key=${iago.apiKey}` });
  await send({ method: "GET", url: `/api/v1/external/test?api_key=${hamlet.apiKey}&stream=x` });
  const dev = await send({ method: "POST", url: "/api/v1/dev_fetch_api_key", ...form({ username: "hamlet@zulip.com" }) });
  assert.equal(dev.statusCode, 200);
  await send({ method: "GET", url: "/api/v1/server_settings" });
  await send({ method: "GET", url: `/api/v1/%zz?password=${PASSWORD}` });

  const crash = await send({ method: "GET", url: "/api/v1/test-only/crash" });
  assert.equal(crash.statusCode, 500);
  const crashBody = crash.json() as Record<string, unknown>;
  assert.deepEqual(crashBody, { result: "error", msg: "Internal server error", request_id: crash.headers["x-request-id"] });
  assert.doesNotMatch(crash.body, /exploded/);

  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(lines.length > 40, `only ${lines.length} log lines`);
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const secret of secretsInPlay) {
    const leaking = lines.find((line) => line.includes(secret));
    assert.equal(leaking, undefined, `a log line holds a secret: ${leaking}`);
  }
  for (const entry of parsed) assert.equal(typeof entry.reqId, "string", `no request id on ${JSON.stringify(entry)}`);
  // Every request's lines carry its id; the login record and the 500 are tied to theirs.
  for (const id of requestIds)
    assert.ok(
      parsed.some((e) => e.reqId === id),
      `no line for request ${id}`,
    );
  const fetched = parsed.find((e) => e.msg === "api key fetched");
  assert.equal(fetched?.reqId, login.headers["x-request-id"]);
  const unhandled = parsed.find((e) => e.msg === "unhandled error");
  assert.equal(unhandled?.reqId, crash.headers["x-request-id"]);
  assert.equal(unhandled?.level, 50);
});

test("redactUrl masks every spelling of a secret parameter the server would read", () => {
  assert.equal(redactUrl("/a?username=x&password=s3cret"), "/a?username=x&password=[redacted]");
  assert.equal(redactUrl("/a?pass%77ord=s3cret&b=1"), "/a?pass%77ord=[redacted]&b=1");
  assert.equal(
    redactUrl("/a?PASSWORD=s&Api_Key=k&password[]=p"),
    "/a?PASSWORD=[redacted]&Api_Key=[redacted]&password[]=[redacted]",
  );
  assert.equal(redactUrl("/a?x=1&password+=s"), "/a?x=1&password+=[redacted]");
  assert.equal(redactUrl("/a?%zz=1&otp=abc#password=frag"), "/a?%zz=1&otp=[redacted]");
  assert.equal(
    redactUrl("/a?mobile_flow_otp=1&desktop_flow_otp=2&token=3&key=4"),
    "/a?mobile_flow_otp=[redacted]&desktop_flow_otp=[redacted]&token=[redacted]&key=[redacted]",
  );
  assert.equal(redactUrl("/no/query"), "/no/query");
  assert.equal(redactUrl("/a?password"), "/a?password=[redacted]");
});

test("the web login, OTP flows, password reset, API key page and bot key flows log no secret", async (t) => {
  const config = testConfig("development");
  const database = await openDatabase(":memory:");
  const secrets = generateSecrets();
  const mailer = new MemoryMailer();
  const { stream, lines } = memoryLog();
  const logger = createLogger("trace", stream);
  const ctx = createContext({
    config,
    database,
    secrets,
    hasher: new CountingHasher(),
    clock: new ManualClock(),
    mailer,
    log: logger,
  });
  const app = await buildApp({ config, ctx, logger });
  t.after(async () => {
    await app.close();
    await database.close();
  });
  const realm = await createRealm(ctx, { subdomain: "", name: "Zulip Dev" });
  const hamlet = await createAccount(ctx, {
    realmId: realm.id,
    email: "hamlet@zulip.com",
    fullName: "Hamlet",
    password: PASSWORD,
  });
  const secretsInPlay = new Set<string>([PASSWORD, encodeURIComponent(PASSWORD), hamlet.apiKey]);
  for (const value of Object.values(secrets)) {
    secretsInPlay.add(value.toString("base64"));
    secretsInPlay.add(value.toString("hex"));
  }
  const collect = (browser: InjectBrowser) => {
    for (const value of browser.cookies.values()) if (value.length >= 16) secretsInPlay.add(value);
  };

  // Web login, wrong and right, and the API key page behind it.
  const browser = new InjectBrowser(app);
  assert.equal((await browser.login("hamlet@zulip.com", "Wrong-Passw0rd-web")).statusCode, 401);
  secretsInPlay.add("Wrong-Passw0rd-web");
  assert.equal((await browser.login("hamlet@zulip.com", PASSWORD)).statusCode, 302);
  collect(browser);
  const csrf = csrfTokenIn((await browser.get("/settings/account")).body) as string;
  secretsInPlay.add(csrf);
  const revealed = await browser.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf });
  assert.equal(revealed.statusCode, 200);

  // Bots through the session and through the API: created, shown, rotated; zuliprc page.
  const created = await browser.post("/json/bots", { full_name: "Logger Bot", short_name: "logger" }, { "x-csrf-token": csrf });
  assert.equal(created.statusCode, 200);
  const bot = created.json() as { user_id: number; api_key: string };
  secretsInPlay.add(bot.api_key);
  const auth = { authorization: basic("hamlet@zulip.com", hamlet.apiKey) };
  const shown = await app.inject({ method: "GET", url: `/api/v1/bots/${bot.user_id}/api_key`, headers: auth });
  assert.equal(shown.statusCode, 200);
  const rotated = await app.inject({ method: "POST", url: `/api/v1/bots/${bot.user_id}/api_key/regenerate`, headers: auth });
  secretsInPlay.add((rotated.json() as { api_key: string }).api_key);
  assert.equal((await browser.get("/settings/bots")).statusCode, 200);
  await app.inject({ method: "GET", url: "/api/v1/bots", headers: auth });

  // Push tokens, then the user's own key regenerated (which clears them).
  const pushToken = "ZmNtLXRva2VuLXRoYXQtaXMtc2VjcmV0";
  secretsInPlay.add(pushToken);
  const push = await app.inject({
    method: "POST",
    url: "/api/v1/users/me/apns_device_token",
    headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ token: pushToken, appid: "org.zulip.Zulip" }).toString(),
  });
  assert.equal(push.statusCode, 200);
  const regenerated = await app.inject({ method: "POST", url: "/api/v1/users/me/api_key/regenerate", headers: auth });
  assert.equal(regenerated.statusCode, 200);
  const newKey = (regenerated.json() as { api_key: string }).api_key;
  secretsInPlay.add(newKey);

  // The mobile and desktop flows: the OTPs, the encrypted key and the one-time login token.
  const mobileOtp = randomBytes(32).toString("hex");
  const desktopOtp = randomBytes(32).toString("hex");
  secretsInPlay.add(mobileOtp);
  secretsInPlay.add(desktopOtp);
  await new InjectBrowser(app).get(`/login/?mobile_flow_otp=${mobileOtp}`);
  const mobile = await new InjectBrowser(app).login("hamlet@zulip.com", PASSWORD, { mobile_flow_otp: mobileOtp });
  assert.equal(mobile.statusCode, 302);
  secretsInPlay.add(new URL(String(mobile.headers.location)).searchParams.get("otp_encrypted_api_key") as string);
  const desktop = await new InjectBrowser(app).login("hamlet@zulip.com", PASSWORD, { desktop_flow_otp: desktopOtp });
  const desktopData = /<textarea id="desktop-data"[^>]*>([0-9a-f]+)<\/textarea>/.exec(desktop.body)?.[1] as string;
  secretsInPlay.add(desktopData);
  const loginToken = decryptForDesktop(desktopData, desktopOtp);
  secretsInPlay.add(loginToken);
  const desktopBrowser = new InjectBrowser(app);
  assert.equal((await desktopBrowser.get(`/accounts/login/subdomain/${loginToken}`)).statusCode, 302);
  collect(desktopBrowser);

  // Password reset: the email, the link's token on the page and in the form, the new password.
  const resetter = new InjectBrowser(app);
  const resetCsrf = await resetter.csrfFrom("/accounts/password/reset/");
  assert.equal(
    (await resetter.post("/accounts/password/reset/", { _csrf: resetCsrf, email: "hamlet@zulip.com" })).statusCode,
    200,
  );
  const link = /http:\/\/testserver(\/accounts\/password\/reset\/confirm\/\?token=[A-Za-z0-9_%-]+)/.exec(
    mailer.sent[0]?.text ?? "",
  )?.[1];
  assert.ok(link, "no reset link in the email");
  const resetToken = decodeURIComponent(new URL(link, "http://testserver").searchParams.get("token") as string);
  secretsInPlay.add(resetToken);
  const confirmPage = await resetter.get(link);
  assert.equal(confirmPage.statusCode, 200);
  const newPassword = "Logged-Never-horse-battery-9";
  secretsInPlay.add(newPassword);
  const changed = await resetter.post("/accounts/password/reset/confirm/", {
    _csrf: csrfTokenIn(confirmPage.body) as string,
    token: /name="token" value="([^"]+)"/.exec(confirmPage.body)?.[1] as string,
    new_password1: newPassword,
    new_password2: newPassword,
  });
  assert.equal(changed.statusCode, 200);
  assert.equal((await new InjectBrowser(app).login("hamlet@zulip.com", newPassword)).statusCode, 302);
  // Logging out, and the old session's cookie used again.
  await browser.post("/accounts/logout/", { _csrf: csrf });

  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(lines.length > 40, `only ${lines.length} log lines`);
  for (const secret of secretsInPlay) {
    const leaking = lines.find((line) => line.includes(secret));
    assert.equal(leaking, undefined, `a log line holds a secret: ${leaking}`);
  }
  for (const line of lines)
    assert.equal(typeof (JSON.parse(line) as { reqId?: unknown }).reqId, "string", `no request id on ${line}`);
});
