/**
 * In real Chromium: every error a settings page can meet is told in words a person can act on,
 * and every page fits a phone and works from the keyboard.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { PASSWORD } from "../helper.js";
import { fitsWidth, launchChromium, newContext, screenshot, startWebServer, type WebServer } from "./browser-helper.js";

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
describe("browser-errors", () => {
  after(async () => {
    await browser?.close();
  });

  async function logIn(page: Page, server: WebServer, email: string): Promise<void> {
    await page.goto(`${server.origin}/login/`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in", exact: true }).click();
    await page.waitForURL(`${server.origin}/settings/account`);
  }

  /** Types a password into "Manage your API key" and returns the error the page then shows. */
  async function askForKey(page: Page, password: string): Promise<string> {
    const error = page.locator("#api-key-error");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Get API key" }).click();
    await error.waitFor({ state: "visible" });
    const text = (await error.textContent()) ?? "";
    // The next call starts from a clean slate.
    await page.evaluate("document.getElementById('api-key-error').hidden = true");
    return text;
  }

  test("the API key page explains a wrong password, an ended session, a stale page and the login limit", async (t) => {
    const server = await startWebServer({ env: { LATCHKEY_RATE_LIMIT_AUTH: "1800:3" } });
    t.after(() => server.close());
    const context = await newContext(browser, server.origin);
    t.after(() => context.close());
    const page = await context.newPage();
    await logIn(page, server, "hamlet@zulip.com");
    await page.getByRole("button", { name: "Manage your API key" }).click();

    assert.equal(await askForKey(page, "wrong"), "Password is incorrect.");
    // Nothing typed: the page asks for the password instead of leaving the last error up.
    assert.equal(await askForKey(page, ""), "Enter your password.");

    // The page was left open too long: its CSRF token no longer matches the cookie.
    await page.evaluate("document.querySelector('meta[name=csrf-token]').setAttribute('content', 'stale')");
    assert.equal(await askForKey(page, PASSWORD), "This page has expired. Reload it and try again.");
    await page.reload();
    await page.getByRole("button", { name: "Manage your API key" }).click();

    // Logged out in another tab.
    const other = await context.newPage();
    await other.goto(`${server.origin}/accounts/logout/`);
    await other.getByRole("button", { name: "Log out" }).click();
    await other.close();
    assert.equal(await askForKey(page, PASSWORD), "You are no longer logged in. Reload the page to log in again.");
    await screenshot(page, "20-api-key-logged-out");

    // Too many wrong passwords (3 allowed here; a login clears the count): the page says how long to wait.
    await logIn(page, server, "hamlet@zulip.com");
    await page.getByRole("button", { name: "Manage your API key" }).click();
    for (let i = 0; i < 3; i++) assert.equal(await askForKey(page, "wrong"), "Password is incorrect.");
    assert.match(await askForKey(page, PASSWORD), /^Too many attempts\. Try again in \d+ seconds\.$/);
    await screenshot(page, "21-api-key-throttled");
  });

  test("the bots page explains an ended session, and every page fits a phone screen", async (t) => {
    const server = await startWebServer();
    t.after(() => server.close());
    const context = await newContext(browser, server.origin, true);
    t.after(() => context.close());
    const page = await context.newPage();
    for (const path of [
      "/login/",
      "/accounts/password/reset/",
      "/accounts/password/reset/confirm/?token=nope",
      "/devtools/emails",
    ]) {
      await page.goto(`${server.origin}${path}`);
      assert.ok(await fitsWidth(page), `${path} fits 390 px`);
    }
    await logIn(page, server, "hamlet@zulip.com");
    for (const path of ["/settings/account", "/settings/bots", "/accounts/logout/"]) {
      await page.goto(`${server.origin}${path}`);
      assert.ok(await fitsWidth(page), `${path} fits 390 px`);
    }

    // Add a bot from the keyboard alone: Tab from the type to the name and email, Enter submits.
    await page.goto(`${server.origin}/settings/bots`);
    await page.getByLabel("Bot type").focus();
    await page.keyboard.press("Tab");
    await page.keyboard.type("Helper");
    await page.keyboard.press("Tab");
    await page.keyboard.type("helper");
    await page.keyboard.press("Enter");
    await page.locator("li.bot[data-email]").first().waitFor();
    assert.match((await page.locator("li.bot[data-email]").first().getAttribute("data-email")) ?? "", /^helper-bot@/);
    assert.ok(await fitsWidth(page), "the bots page with a bot fits 390 px");
    await screenshot(page, "22-bots-phone");

    // The session ends elsewhere; rotating the bot's key says so in plain words.
    await server.ctx.stores.sessions.deleteForUser(server.hamlet.id);
    await page.locator(".regenerate-bot-key").first().click();
    const error = page.locator("#bots-error");
    await error.waitFor({ state: "visible" });
    assert.equal(await error.textContent(), "You are no longer logged in. Reload the page to log in again.");
  });
});
