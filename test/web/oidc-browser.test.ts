/**
 * OpenID Connect login end to end: Latchkey on a real port, a real OpenID provider
 * (`oidc-provider`, test/web/oidc-idp.ts) on another, and Debian's Chromium clicking through
 * both: the web login, the mobile flow to its `zulip://` redirect, the desktop flow, account
 * creation on and off, a deactivated account and organization, an answer with the wrong state,
 * a replayed code, an email the provider did not verify, and a provider that is down when the
 * server starts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, type TestContext, test } from "node:test";
import type { Browser, BrowserContext, Page, Response } from "playwright-core";
import { createAccount, createRealm, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import { setRealmOidcAutoCreate } from "../../src/domain/oidc-login.js";
import { decryptForDesktop, otpDecryptApiKey } from "../../src/domain/otp.js";
import { createLogger } from "../../src/logging.js";
import { basic, freePort, memoryLog } from "../helper.js";
import { launchChromium, newContext, screenshot, startWebServer, type WebServer } from "./browser-helper.js";
import { type IdpPerson, startTestIdp, type TestIdp } from "./oidc-idp.js";

const PEOPLE: IdpPerson[] = [
  { username: "iago", password: "idp-pass-iago", email: "iago@zulip.com", emailVerified: true, name: "Iago" },
  { username: "hamlet", password: "idp-pass-hamlet", email: "HAMLET@zulip.com", emailVerified: true, name: "King Hamlet" },
  { username: "newbie", password: "idp-pass-newbie", email: "newbie@zulip.com", emailVerified: true, name: "New Person" },
  { username: "unverified", password: "idp-pass-unverified", email: "iago@zulip.com", emailVerified: false, name: "Not Iago" },
  { username: "noemail", password: "idp-pass-noemail", name: "No Email" },
  { username: "silent", password: "idp-pass-silent", email: "iago@zulip.com", name: "Says Nothing" },
];

/** Log lines as JSON objects, kept in memory. */
function memoryLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const { stream, records } = memoryLog();
  return { logger: createLogger("info", stream), lines: records };
}

interface Setup {
  server: WebServer;
  idp: TestIdp;
  lines: Record<string, unknown>[];
  /** Registers a cleanup to run at the test's end, before the servers stop. */
  onEnd: (close: () => Promise<unknown>) => void;
}

/** Latchkey and its provider, each knowing the other's address, both stopped at the test's end. */
async function setup(
  t: TestContext,
  options: { autoSignup?: boolean; idpDown?: boolean; secret?: string; extraEnv?: Record<string, string> } = {},
): Promise<Setup> {
  const port = await freePort();
  const idp = await startTestIdp({ redirectUris: [`http://127.0.0.1:${port}/complete/oidc/`], people: PEOPLE });
  if (options.idpDown) await idp.stop();
  const { logger, lines } = memoryLogger();
  const server = await startWebServer({
    port,
    logger,
    env: {
      LATCHKEY_OIDC_IDPS: JSON.stringify({
        testidp: {
          display_name: "Test IdP",
          oidc_url: idp.issuer,
          client_id: idp.clientId,
          secret: options.secret ?? idp.secret,
          auto_signup: options.autoSignup ?? false,
        },
      }),
      ...options.extraEnv,
    },
  });
  const onEnd = cleanups(t);
  onEnd(() => idp.stop());
  onEnd(() => server.close());
  return { server, idp, lines, onEnd };
}

/** A browser context (closed at the test's end) and a page in it. */
async function openPage(onEnd: Setup["onEnd"], origin: string, mobile = false): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, origin, mobile);
  onEnd(() => context.close());
  return { context, page: await context.newPage() };
}

async function signInAtIdp(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/**
 * Cleanups run last-in first-out: browser contexts close before the servers they talk to, so no
 * keep-alive connection holds a server's close up.
 */
function cleanups(t: TestContext): (close: () => Promise<unknown>) => void {
  const stack: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const close of stack.reverse()) await close();
  });
  return (close) => {
    stack.push(close);
  };
}

/** The answer Latchkey gives at its callback URL (the provider's redirect back). */
function callbackResponse(page: Page, origin: string): Promise<Response> {
  return page.waitForResponse((r) => r.url().startsWith(`${origin}/complete/oidc/`));
}

let browser: Browser;
before(async () => {
  browser = await launchChromium(["--host-resolver-rules=MAP *.latchkey.test 127.0.0.1, MAP latchkey.test 127.0.0.1"]);
});
describe("OpenID Connect in Chromium", () => {
  after(async () => {
    await browser?.close();
  });

  test("web login: the provider's button on the login page, its own page, and back with a session", async (t) => {
    const { server, idp, lines, onEnd } = await setup(t);
    const { context, page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/login/`);
    const button = page.getByRole("link", { name: "Log in with Test IdP" });
    await button.waitFor();
    await screenshot(page, "oidc-01-login-button");
    await button.click();
    await page.waitForURL(`${idp.issuer}/interaction/**`);
    await screenshot(page, "oidc-02-provider-page");
    await signInAtIdp(page, "iago", "wrong password");
    await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.waitForURL(`${server.origin}/settings/account`);
    await page.getByText("iago@zulip.com").first().waitFor();
    await screenshot(page, "oidc-03-logged-in");
    const cookies = await context.cookies(server.origin);
    assert.ok(cookies.some((c) => c.name === "sessionid" && c.httpOnly));
    assert.ok(!cookies.some((c) => c.name === "oidc_state"), "the state cookie is gone once used");
    assert.ok(lines.some((l) => l.msg === "identity provider login" && l.userId === server.iago.id));

    // A phone-sized screen shows the button too.
    const phone = await newContext(browser, server.origin, true);
    onEnd(() => phone.close());
    const small = await phone.newPage();
    await small.goto(`${server.origin}/login/`);
    await small.getByRole("link", { name: "Log in with Test IdP" }).waitFor();
    await screenshot(small, "oidc-04-login-button-phone");
  });

  test("mobile flow: login_url with mobile_flow_otp ends at zulip:// with a key that decrypts and works", async (t) => {
    const { server, idp, onEnd } = await setup(t);
    const settings = (await (await fetch(`${server.origin}/api/v1/server_settings`)).json()) as {
      external_authentication_methods: { login_url: string }[];
    };
    const loginUrl = settings.external_authentication_methods[0]?.login_url as string;
    const { context, page } = await openPage(onEnd, server.origin, true);
    const otp = randomBytes(32).toString("hex");
    // Past Zulip's JUST_CREATED_THRESHOLD, so the login gets its email.
    server.clock.advance(120);
    // zulip-flutter opens realm_uri.resolve(login_url) with the query replaced by the OTP.
    await page.goto(`${server.origin}${loginUrl}?mobile_flow_otp=${otp}`);
    await page.waitForURL(`${idp.issuer}/interaction/**`);
    const answer = callbackResponse(page, server.origin);
    await signInAtIdp(page, "hamlet", "idp-pass-hamlet");
    const redirect = await answer;
    assert.equal(redirect.status(), 302);
    const location = new URL(redirect.headers().location as string);
    assert.equal(location.protocol, "zulip:");
    assert.equal(location.host, "login");
    assert.deepEqual([...location.searchParams.keys()], ["otp_encrypted_api_key", "email", "user_id", "realm"]);
    assert.equal(location.searchParams.get("email"), "hamlet@zulip.com");
    assert.equal(location.searchParams.get("user_id"), String(server.hamlet.id));
    assert.equal(location.searchParams.get("realm"), server.origin);
    const key = otpDecryptApiKey(location.searchParams.get("otp_encrypted_api_key") as string, otp);
    assert.equal(key, server.keys.get(server.hamlet.id));
    const me = await fetch(`${server.origin}/api/v1/users/me`, { headers: { authorization: basic("hamlet@zulip.com", key) } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { user_id: number }).user_id, server.hamlet.id);
    // No browser session: the key went to the app.
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
    // The new-login email (sent in the background).
    const deadline = Date.now() + 5000;
    while (server.mailer.sent.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.mailer.sent.length, 1);
    assert.equal(server.mailer.sent[0]?.to, "hamlet@zulip.com");
  });

  test("desktop flow: the page with desktop_data, whose token opens a browser session once", async (t) => {
    const { server, onEnd } = await setup(t);
    const { context, page } = await openPage(onEnd, server.origin);
    const otp = randomBytes(32).toString("hex");
    await page.goto(`${server.origin}/login/?desktop_flow_otp=${otp}`);
    await page.getByText("You are logging in to the Zulip desktop app.").waitFor();
    await page.getByRole("link", { name: "Log in with Test IdP" }).click();
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.getByRole("heading", { name: "Finish logging in to the desktop app" }).waitFor();
    await screenshot(page, "oidc-05-desktop-page");
    const data = await page.getByLabel("Desktop login code").inputValue();
    const token = decryptForDesktop(data, otp);
    assert.match(token, /^[A-Za-z0-9]{32}$/);
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
    // What the desktop app then opens.
    const app = await newContext(browser, server.origin);
    onEnd(() => app.close());
    const appPage = await app.newPage();
    await appPage.goto(`${server.origin}/accounts/login/subdomain/${token}`);
    await appPage.waitForURL(`${server.origin}/settings/account`);
    const again = await appPage.goto(`${server.origin}/accounts/login/subdomain/${token}`);
    assert.equal(again?.status(), 400);
  });

  test("an organization on its own host: the answer at the root host hands the session to it", async (t) => {
    const port = await freePort();
    const idp = await startTestIdp({ redirectUris: [`http://latchkey.test:${port}/complete/oidc/`], people: PEOPLE });
    const server = await startWebServer({
      port,
      env: {
        LATCHKEY_EXTERNAL_HOST: `latchkey.test:${port}`,
        LATCHKEY_OIDC_IDPS: JSON.stringify({ testidp: { oidc_url: idp.issuer, client_id: idp.clientId, secret: idp.secret } }),
      },
    });
    const onEnd = cleanups(t);
    onEnd(() => idp.stop());
    onEnd(() => server.close());
    const sales = await createRealm(server.ctx, { subdomain: "sales", name: "Sales" });
    await createAccount(server.ctx, { realmId: sales.id, email: "hamlet@zulip.com", fullName: "Sales Hamlet", password: null });
    const origin = `http://sales.latchkey.test:${port}`;
    // Not a secure origin to Chromium, so no clipboard permissions: a plain context.
    const context = await browser.newContext();
    onEnd(() => context.close());
    const page = await context.newPage();
    await page.goto(`${origin}/login/?next=/settings/bots`);
    await page.getByRole("link", { name: "Log in with OIDC" }).click();
    await signInAtIdp(page, "hamlet", "idp-pass-hamlet");
    await page.waitForURL(`${origin}/settings/bots`);
    await page.getByText("Sales Hamlet").first().waitFor();
    const cookies = await context.cookies(origin);
    assert.ok(cookies.some((c) => c.name === "sessionid" && c.domain === "sales.latchkey.test"));
    // The root organization's hamlet is someone else; the session is the Sales account's.
    // Nothing is left on the root host: the session lives on the organization's.
    assert.ok(!(await context.cookies(`http://latchkey.test:${port}`)).some((c) => c.name === "sessionid"));
  });

  test("account creation: made where the organization and the provider allow it, else 'Account not found'", async (t) => {
    const { server, onEnd } = await setup(t, { autoSignup: true });
    const { page } = await openPage(onEnd, server.origin);

    // The provider has auto_signup, the organization does not allow it (the default).
    await page.goto(`${server.origin}/login/`);
    await page.getByRole("link", { name: "Log in with Test IdP" }).click();
    const refused = callbackResponse(page, server.origin);
    await signInAtIdp(page, "newbie", "idp-pass-newbie");
    assert.equal((await refused).status(), 404);
    await page.getByRole("heading", { name: "Account not found" }).waitFor();
    await page.getByText("No account found for newbie@zulip.com.").waitFor();
    await screenshot(page, "oidc-06-account-not-found");
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "newbie@zulip.com"), null);

    await setRealmOidcAutoCreate(server.ctx, server.realm.id, true);
    await page.goto(`${server.origin}/login/`);
    await page.getByRole("link", { name: "Log in with Test IdP" }).click();
    // The provider remembers the person: it answers at once.
    await page.waitForURL(`${server.origin}/settings/account`);
    const created = await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "newbie@zulip.com");
    assert.ok(created);
    assert.equal(created.fullName, "New Person");
    assert.equal(created.passwordHash, null);
    assert.equal(created.isActive, true);
  });

  test("without auto_signup, only the sign-up link creates the account, and only where allowed", async (t) => {
    const { server, onEnd } = await setup(t, { autoSignup: false });
    await setRealmOidcAutoCreate(server.ctx, server.realm.id, true);
    const { page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const refused = callbackResponse(page, server.origin);
    await signInAtIdp(page, "newbie", "idp-pass-newbie");
    assert.equal((await refused).status(), 404);
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "newbie@zulip.com"), null);
    await page.goto(`${server.origin}/accounts/register/social/oidc`);
    await page.waitForURL(`${server.origin}/settings/account`);
    assert.ok(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "newbie@zulip.com"));
  });

  test("deactivated account and organization: Zulip's messages, no session", async (t) => {
    const { server, lines, onEnd } = await setup(t);
    await setAccountActive(server.ctx, server.iago.id, false);
    const { context, page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.waitForURL(`${server.origin}/login/?is_deactivated=iago%40zulip.com`);
    await page
      .getByRole("alert")
      .filter({
        hasText:
          "Your account iago@zulip.com has been deactivated. Please contact your organization administrator to reactivate it.",
      })
      .waitFor();
    await screenshot(page, "oidc-07-deactivated-account");
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
    assert.ok(lines.some((l) => l.msg === "failed login attempt for deactivated account"));

    await setAccountActive(server.ctx, server.iago.id, true);
    await page.goto(`${server.origin}/login/`);
    await page.getByRole("link", { name: "Log in with Test IdP" }).click();
    await page.waitForURL(`${server.origin}/settings/account`);
    await context.clearCookies({ name: "sessionid" });

    await setRealmDeactivated(server.ctx, server.realm.id, true);
    const start = await page.goto(`${server.origin}/accounts/login/social/oidc`);
    assert.equal(start?.status(), 403);
    await page.getByText("The organization you are trying to join, Zulip Dev, has been deactivated.").waitFor();
  });

  test("an answer whose state is not this browser's, a replayed one, and a replayed code log nobody in", async (t) => {
    const { server, idp, lines, onEnd } = await setup(t);
    const { context, page } = await openPage(onEnd, server.origin);
    // The provider's answer stops short of Latchkey, to play with it.
    idp.holdAnswers = true;
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.getByText("Answer held").waitFor();
    idp.holdAnswers = false;
    const answer = new URL(idp.heldAnswers.at(-1) as string);

    // The same code with another state: refused before the provider is asked.
    const forged = new URL(answer);
    forged.searchParams.set("state", randomBytes(32).toString("base64url"));
    const wrong = await page.goto(forged.toString());
    assert.equal(wrong?.status(), 400);
    await page.getByRole("heading", { name: "Login expired" }).waitFor();
    await screenshot(page, "oidc-08-wrong-state");
    assert.equal(idp.tokenRequests.ok + idp.tokenRequests.errors.length, 0, "the provider was never asked");

    // The cookie went with that refusal: the genuine answer is refused in this browser now too,
    // and in another browser (no cookie) as well.
    const other = await newContext(browser, server.origin);
    onEnd(() => other.close());
    const stranger = await (await other.newPage()).goto(answer.toString());
    assert.equal(stranger?.status(), 400);
    const mine = await page.goto(answer.toString());
    assert.equal(mine?.status(), 400, "the refused answer took this browser's state cookie with it");

    // A login whose answer is used once, then replayed.
    const first = callbackResponse(page, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await page.waitForURL(`${server.origin}/settings/account`);
    const used = (await first).url();
    await context.clearCookies({ name: "sessionid" });
    const replay = await page.goto(used);
    assert.equal(replay?.status(), 400);
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));

    // The used code under a fresh login's state (this browser's cookie): the provider refuses it.
    idp.holdAnswers = true;
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await page.getByText("Answer held").waitFor();
    idp.holdAnswers = false;
    const fresh = idp.heldAnswers.at(-1) as string;
    const spliced = new URL(used);
    spliced.searchParams.set("state", new URL(fresh).searchParams.get("state") as string);
    const errorsBefore = idp.tokenRequests.errors.length;
    const refused = await page.goto(spliced.toString());
    assert.equal(refused?.status(), 400);
    await page.getByRole("heading", { name: "Login expired" }).waitFor();
    assert.deepEqual(idp.tokenRequests.errors.slice(errorsBefore), ["invalid_grant"]);
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
    assert.ok(lines.some((l) => l.msg === "identity provider answer without this browser's state"));
    assert.ok(lines.some((l) => l.msg === "identity provider login expired" && l.refusal === "invalid_grant"));
    // Codes and states never reach the log.
    const text = JSON.stringify(lines);
    assert.ok(!text.includes(answer.searchParams.get("code") as string));
    assert.ok(!text.includes(answer.searchParams.get("state") as string));
  });

  test("cancelling at the provider, and an answer that comes back after 15 minutes, log nobody in", async (t) => {
    const { server, idp, lines, onEnd } = await setup(t);
    const { context, page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const cancelled = callbackResponse(page, server.origin);
    await page.getByRole("link", { name: "Cancel" }).click();
    assert.equal((await cancelled).status(), 401);
    await page.getByRole("heading", { name: "Login cancelled" }).waitFor();
    await page.getByText("Test IdP did not log you in.").waitFor();
    assert.ok(lines.some((l) => l.msg === "identity provider did not log the person in" && l.refusal === "denied"));

    idp.holdAnswers = true;
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.getByText("Answer held").waitFor();
    idp.holdAnswers = false;
    server.clock.advance(15 * 60);
    const late = await page.goto(idp.heldAnswers.at(-1) as string);
    assert.equal(late?.status(), 400);
    await page.getByRole("heading", { name: "Login expired" }).waitFor();
    assert.ok(lines.some((l) => l.msg === "identity provider login expired" && l.refusal === "unknown_state"));
    assert.equal(idp.tokenRequests.ok + idp.tokenRequests.errors.length, 0, "the expired answer's code was never exchanged");
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
  });

  test("an email the provider has not verified, or none at all, logs nobody in", async (t) => {
    const { server, onEnd } = await setup(t);
    const { context, page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const answer = callbackResponse(page, server.origin);
    await signInAtIdp(page, "unverified", "idp-pass-unverified");
    assert.equal((await answer).status(), 403);
    await page.getByRole("heading", { name: "Email not verified" }).waitFor();
    await page.getByText("Test IdP has not verified your email address iago@zulip.com").waitFor();
    await screenshot(page, "oidc-09-email-not-verified");
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));

    // A provider that does not say whether it verified the address: not good enough either.
    await context.clearCookies();
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const silent = callbackResponse(page, server.origin);
    await signInAtIdp(page, "silent", "idp-pass-silent");
    assert.equal((await silent).status(), 403);
    await page.getByRole("heading", { name: "Email not verified" }).waitFor();

    // A person the provider gives no email for.
    await context.clearCookies();
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const noEmail = callbackResponse(page, server.origin);
    await signInAtIdp(page, "noemail", "idp-pass-noemail");
    assert.equal((await noEmail).status(), 403);
    await page.getByText("Test IdP did not share your email address").waitFor();
  });

  test("a client secret the provider refuses: 'Login failed' with the request id, an error in the log, no session", async (t) => {
    const { server, idp, lines, onEnd } = await setup(t, { secret: "not-the-secret" });
    const { context, page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    const answer = callbackResponse(page, server.origin);
    await signInAtIdp(page, "iago", "idp-pass-iago");
    const res = await answer;
    assert.equal(res.status(), 502);
    await page.getByRole("heading", { name: "Login failed" }).waitFor();
    await page.getByText(`quote request ${res.headers()["x-request-id"]}`).waitFor();
    await screenshot(page, "oidc-11-login-failed");
    assert.deepEqual(idp.tokenRequests.errors, ["invalid_client"]);
    const logged = lines.find((l) => l.msg === "identity provider answer refused");
    assert.ok(logged);
    assert.equal(logged.level, 50);
    assert.ok(!(await context.cookies(server.origin)).some((c) => c.name === "sessionid"));
  });

  test("a provider that is down: the server starts and lists it, the button says so, and it works once it is back", async (t) => {
    const { server, idp, lines, onEnd } = await setup(t, { idpDown: true });
    const settings = (await (await fetch(`${server.origin}/api/v1/server_settings`)).json()) as Record<string, unknown>;
    assert.deepEqual(settings.external_authentication_methods, [
      {
        name: "oidc:oidc",
        display_name: "Test IdP",
        display_icon: null,
        login_url: "/accounts/login/social/oidc",
        signup_url: "/accounts/register/social/oidc",
      },
    ]);
    const { page } = await openPage(onEnd, server.origin);
    await page.goto(`${server.origin}/login/`);
    const [down] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${server.origin}/login/oidc/`)),
      page.getByRole("link", { name: "Log in with Test IdP" }).click(),
    ]);
    assert.equal(down.status(), 503);
    await page.getByRole("heading", { name: "Login unavailable" }).waitFor();
    await page.getByText("Test IdP is not answering").waitFor();
    await screenshot(page, "oidc-10-provider-down");
    assert.ok(lines.some((l) => l.msg === "identity provider unavailable" && l.level === 40));
    const inFlight = await server.database.db.selectFrom("oidc_logins").select("state_hash").execute();
    assert.equal(inFlight.length, 0, "nothing is remembered for a login that could not start");

    await idp.start();
    // Within the retry delay the failure stands; after it, discovery is tried again.
    const soon = await page.goto(`${server.origin}/accounts/login/social/oidc`);
    assert.equal(soon?.status(), 503);
    server.clock.advance(31);
    await page.goto(`${server.origin}/accounts/login/social/oidc`);
    await signInAtIdp(page, "iago", "idp-pass-iago");
    await page.waitForURL(`${server.origin}/settings/account`);
  });
});
