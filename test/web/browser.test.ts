/**
 * End to end in real Chromium: log in, get the API key, copy it, download the zuliprc, reset a
 * password from the email in the outbox, and the mobile flow's zulip:// redirect.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, ConsoleMessage, Page } from "playwright-core";
import { otpDecryptApiKey } from "../../src/domain/otp.js";
import { renderZuliprc } from "../../src/domain/zuliprc.js";
import { PASSWORD } from "../helper.js";
import { fitsWidth, launchChromium, newContext, screenshot, startWebServer, type WebServer } from "./browser-helper.js";

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
describe("browser", () => {
  after(async () => {
    await browser?.close();
  });

  /**
   * Collects CSP violations, script errors and missing files. (Refused form posts log "Failed to
   * load resource" too; those are expected and checked by the tests themselves.)
   */
  function watchConsole(page: Page): string[] {
    const problems: string[] = [];
    page.on("console", (m: ConsoleMessage) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
    });
    page.on("response", (r) => {
      if (r.status() === 404) problems.push(`404 ${r.url()}`);
    });
    page.on("pageerror", (e) => problems.push(e.message));
    return problems;
  }

  async function logIn(page: Page, server: WebServer, email: string, password: string): Promise<void> {
    await page.goto(`${server.origin}/login/`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in", exact: true }).click();
  }

  test("log in, get the API key, copy it and download the zuliprc", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin);
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = watchConsole(page);

    await page.goto(`${server.origin}/login/`);
    await screenshot(page, "01-login");
    await logIn(page, server, "iago@zulip.com", "wrong password");
    await page.getByRole("alert").filter({ hasText: "Your username or password is incorrect" }).waitFor();
    await screenshot(page, "02-login-error");

    await logIn(page, server, "iago@zulip.com", PASSWORD);
    await page.waitForURL(`${server.origin}/settings/account`);
    await screenshot(page, "03-account-settings");

    await page.getByRole("button", { name: "Manage your API key" }).click();
    await page.getByLabel("Your password").fill("not my password");
    await page.getByRole("button", { name: "Get API key" }).click();
    await page.getByText("Password is incorrect.").waitFor();
    await screenshot(page, "04-api-key-wrong-password");

    await page.getByLabel("Your password").fill(PASSWORD);
    await page.getByRole("button", { name: "Get API key" }).click();
    const keyField = page.getByLabel("Your API key");
    await keyField.waitFor();
    const key = await keyField.inputValue();
    assert.equal(key, server.keys.get(server.iago.id));
    await screenshot(page, "05-api-key-shown");

    await page.getByRole("button", { name: "Copy API key" }).click();
    await page.getByText("Copied!").waitFor();
    assert.equal(await page.evaluate<string>("navigator.clipboard.readText()"), key);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download zuliprc" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "zuliprc");
    const file = await readFile(await download.path(), "utf8");
    assert.equal(file, renderZuliprc({ email: "iago@zulip.com", apiKey: key, site: server.origin }));

    // The key works against the API.
    const me = await fetch(`${server.origin}/api/v1/users/me`, {
      headers: { authorization: `Basic ${Buffer.from(`iago@zulip.com:${key}`).toString("base64")}` },
    });
    assert.equal(me.status, 200);
    assert.deepEqual(problems, [], "no CSP violations or script errors");
  });

  test("the API key page works from the keyboard alone and fits a phone screen", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin, true);
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = watchConsole(page);
    await page.goto(`${server.origin}/login/`);
    assert.ok(await fitsWidth(page), "the login page fits 390 px");
    await screenshot(page, "06-login-phone");
    // The email field has focus on arrival; type, Tab to the password, Enter submits.
    await page.keyboard.type("hamlet@zulip.com");
    await page.keyboard.press("Tab");
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${server.origin}/settings/account`);
    assert.ok(await fitsWidth(page), "the settings page fits 390 px");

    await page.getByRole("button", { name: "Manage your API key" }).focus();
    await page.keyboard.press("Enter");
    assert.equal(await page.locator(":focus").getAttribute("id"), "api-key-password");
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press("Enter");
    await page.getByLabel("Your API key").waitFor();
    assert.equal(await page.getByLabel("Your API key").inputValue(), server.keys.get(server.hamlet.id));
    assert.ok(await fitsWidth(page));
    await screenshot(page, "07-api-key-phone");
    assert.deepEqual(problems, []);
  });

  test("reset a forgotten password from the email in the outbox", async (t) => {
    const outbox = await mkdtemp(join(tmpdir(), "latchkey-outbox-"));
    t.after(() => rm(outbox, { recursive: true, force: true }));
    const server = await startWebServer({ env: { LATCHKEY_EMAIL_OUTBOX: outbox } });
    t.after(() => server.close());
    const context = await newContext(browser, server.origin);
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = watchConsole(page);

    // From the API key page's "reset it" link, as the help article describes.
    await logIn(page, server, "hamlet@zulip.com", PASSWORD);
    await page.waitForURL(`${server.origin}/settings/account`);
    await page.getByRole("button", { name: "Manage your API key" }).click();
    await page.getByRole("link", { name: "reset it" }).click();
    await page.waitForURL(/\/accounts\/password\/reset\//);
    assert.equal(await page.getByLabel("Email").inputValue(), "hamlet@zulip.com");
    await screenshot(page, "08-password-reset-request");
    await page.getByRole("button", { name: "Send reset link" }).click();
    await page.getByRole("heading", { name: "Check your email" }).waitFor();
    await screenshot(page, "09-password-reset-sent");

    await page.goto(`${server.origin}/devtools/emails`);
    await screenshot(page, "10-outbox");
    await page
      .getByRole("link", { name: /\/accounts\/password\/reset\/confirm\// })
      .first()
      .click();
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await page.waitForLoadState("load");
    // The zxcvbn estimate as the user types.
    await page.getByLabel("New password", { exact: true }).fill("password1");
    await page.getByText("Too weak: easy to guess").waitFor();
    await page.getByLabel("Confirm new password").fill("password1");
    await page.getByRole("button", { name: "Set password" }).click();
    await page.getByRole("alert").filter({ hasText: "The password is too weak." }).waitFor();
    await screenshot(page, "11-new-password-too-weak");
    const fresh = "violet tram 91 oboe lantern";
    await page.getByLabel("New password", { exact: true }).fill(fresh);
    await page.getByText("Strong password").waitFor();
    await screenshot(page, "11b-new-password-strong");
    await page.getByLabel("Confirm new password").fill(fresh);
    await page.getByRole("button", { name: "Set password" }).click();
    await page.getByRole("heading", { name: "Password changed" }).waitFor();
    await screenshot(page, "12-password-changed");

    await logIn(page, server, "hamlet@zulip.com", fresh);
    await page.waitForURL(`${server.origin}/settings/account`);
    assert.deepEqual(problems, []);
  });

  test("the mobile flow ends at a zulip:// redirect whose key decrypts to the user's key", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin, true);
    t.after(() => context.close());
    const page = await context.newPage();
    const otp = randomBytes(32).toString("hex");

    const invalid = await page.goto(`${server.origin}/login/?mobile_flow_otp=1234`);
    assert.equal(invalid?.status(), 400);
    assert.match(await page.content(), /Invalid OTP/);

    await page.goto(`${server.origin}/login/?mobile_flow_otp=${otp}`);
    await screenshot(page, "13-mobile-flow-login");
    await page.getByLabel("Email").fill("iago@zulip.com");
    await page.getByLabel("Password").fill(PASSWORD);
    const [redirect] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${server.origin}/login/` && r.request().method() === "POST"),
      page.getByRole("button", { name: "Log in", exact: true }).click(),
    ]);
    assert.equal(redirect.status(), 302);
    const location = new URL(redirect.headers().location as string);
    assert.equal(location.protocol, "zulip:");
    assert.equal(location.host, "login");
    assert.equal(location.searchParams.get("email"), "iago@zulip.com");
    assert.equal(location.searchParams.get("user_id"), String(server.iago.id));
    assert.equal(location.searchParams.get("realm"), server.origin);
    const encrypted = location.searchParams.get("otp_encrypted_api_key") as string;
    assert.match(encrypted, /^[0-9a-f]{64}$/);
    assert.equal(otpDecryptApiKey(encrypted, otp), server.keys.get(server.iago.id));
  });

  /** `GET /api/v1/users/me` with a key: the status and message the API gives. */
  async function tryKey(server: WebServer, email: string, key: string): Promise<{ status: number; msg: string }> {
    const res = await fetch(`${server.origin}/api/v1/users/me`, {
      headers: { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` },
    });
    return { status: res.status, msg: ((await res.json()) as { msg: string }).msg };
  }

  test("generate a new API key: the page shows it and the API refuses the old one", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin);
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = watchConsole(page);
    await logIn(page, server, "iago@zulip.com", PASSWORD);
    await page.waitForURL(`${server.origin}/settings/account`);
    await page.getByRole("button", { name: "Manage your API key" }).click();
    await page.getByLabel("Your password").fill(PASSWORD);
    await page.getByRole("button", { name: "Get API key" }).click();
    const keyField = page.getByLabel("Your API key");
    await keyField.waitFor();
    const oldKey = await keyField.inputValue();

    await page.getByRole("button", { name: "Generate new API key" }).click();
    await page.getByText("every mobile device logged in to your account is logged out").waitFor();
    await screenshot(page, "14-generate-new-key-warning");
    await page.getByRole("button", { name: "Generate new key", exact: true }).click();
    await page.getByText("A new API key was generated. The old one no longer works.").waitFor();
    const newKey = await keyField.inputValue();
    await screenshot(page, "15-new-key-shown");
    assert.notEqual(newKey, oldKey);
    assert.match(newKey, /^[A-Za-z0-9]{32}$/);
    assert.deepEqual(await tryKey(server, "iago@zulip.com", oldKey), { status: 401, msg: "Invalid API key" });
    assert.equal((await tryKey(server, "iago@zulip.com", newKey)).status, 200);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download zuliprc" }).click(),
    ]);
    assert.equal(
      await readFile(await download.path(), "utf8"),
      renderZuliprc({ email: "iago@zulip.com", apiKey: newKey, site: server.origin }),
    );
    assert.deepEqual(problems, []);
  });

  test("manage a bot: add it, copy and rotate its key, download its zuliprc, deactivate and reactivate it", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin);
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = watchConsole(page);
    await logIn(page, server, "iago@zulip.com", PASSWORD);
    await page.waitForURL(`${server.origin}/settings/account`);
    await page.getByRole("link", { name: "Your bots" }).click();
    await page.waitForURL(`${server.origin}/settings/bots`);
    await page.getByText("You have no active bots.").waitFor();
    await screenshot(page, "16-bots-empty");

    // A mistake first: the server's message is shown.
    await page.getByLabel("Name", { exact: true }).fill("Weather Bot");
    await page.getByLabel("Bot email").fill("bad name!");
    await page.getByRole("button", { name: "Create bot" }).click();
    await page.locator("#add-bot-error", { hasText: "Bad name or username" }).waitFor();
    assert.equal(await page.locator("#add-bot-error").textContent(), "Bad name or username");
    await screenshot(page, "17-bots-create-error");

    await page.getByLabel("Bot email").fill("weather");
    await page.getByRole("button", { name: "Create bot" }).click();
    const bot = page.getByRole("listitem", { name: "Weather Bot" });
    await bot.waitFor();
    await page.waitForLoadState("load");
    await screenshot(page, "18-bots-one-bot");
    const botEmail = `weather-bot@127.0.0.1`;
    const keyField = bot.getByRole("textbox", { name: "API key", exact: true });
    const key = await keyField.inputValue();
    assert.equal((await tryKey(server, botEmail, key)).status, 200);

    await bot.getByRole("button", { name: "Copy API key of Weather Bot" }).click();
    await bot.getByText("Copied!").waitFor();
    assert.equal(await page.evaluate<string>("navigator.clipboard.readText()"), key);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      bot.getByRole("link", { name: "Download zuliprc of Weather Bot" }).click(),
    ]);
    assert.equal(
      await readFile(await download.path(), "utf8"),
      renderZuliprc({ email: botEmail, apiKey: key, site: server.origin }),
    );

    await bot.getByRole("button", { name: "Generate new API key for Weather Bot" }).click();
    await bot.getByText("A new API key was generated.").waitFor();
    const rotated = await keyField.inputValue();
    assert.notEqual(rotated, key);
    assert.deepEqual(await tryKey(server, botEmail, key), { status: 401, msg: "Invalid API key" });
    assert.equal((await tryKey(server, botEmail, rotated)).status, 200);
    const [again] = await Promise.all([
      page.waitForEvent("download"),
      bot.getByRole("link", { name: "Download zuliprc of Weather Bot" }).click(),
    ]);
    assert.match(await readFile(await again.path(), "utf8"), new RegExp(`^key=${rotated}$`, "m"));

    await bot.getByRole("button", { name: "Deactivate Weather Bot" }).click();
    await page.getByRole("button", { name: "Reactivate Weather Bot" }).waitFor();
    await page.waitForLoadState("load");
    await screenshot(page, "19-bots-deactivated");
    assert.deepEqual(await tryKey(server, botEmail, rotated), { status: 401, msg: "Account is deactivated" });
    await page.getByRole("button", { name: "Reactivate Weather Bot" }).click();
    await page.getByRole("button", { name: "Deactivate Weather Bot" }).waitFor();
    await page.waitForLoadState("load");
    assert.equal((await tryKey(server, botEmail, rotated)).status, 200);

    // An outgoing-webhook bot's zuliprc carries its service token.
    await page.getByLabel("Bot type").selectOption({ label: "Outgoing webhook" });
    await page.getByLabel("Name", { exact: true }).fill("Hook");
    await page.getByLabel("Bot email").fill("hook");
    await page.getByLabel("Endpoint URL").fill("https://hooks.example.com/zulip");
    await page.getByRole("button", { name: "Create bot" }).click();
    const hook = page.getByRole("listitem", { name: "Hook" });
    await hook.waitFor();
    await page.waitForLoadState("load");
    const [hookFile] = await Promise.all([
      page.waitForEvent("download"),
      hook.getByRole("link", { name: "Download zuliprc of Hook" }).click(),
    ]);
    assert.match(
      await readFile(await hookFile.path(), "utf8"),
      /^\[api\]\nemail=hook-bot@127\.0\.0\.1\nkey=[A-Za-z0-9]{32}\nsite=.*\ntoken=[A-Za-z0-9]{32}\n$/,
    );
    assert.deepEqual(problems, []);
  });
});
