/**
 * Real Chromium (Debian's package, never a download) driven by playwright-core, against a
 * Latchkey server on a real loopback port. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { freePort, makeTestServer, type TestServer, type TestServerOptions } from "../helper.js";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
export const ARTIFACTS = "test-artifacts";

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export interface WebServer extends TestServer {
  /** `http://127.0.0.1:<port>`: the organization's URL as the server knows it. */
  origin: string;
}

/** A test server listening on a real port, with its external host set to that port. */
export async function startWebServer(options: TestServerOptions = {}): Promise<WebServer> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const server = await makeTestServer({ ...options, env: { LATCHKEY_EXTERNAL_HOST: host, ...options.env } });
  await server.app.listen({ port, host: "127.0.0.1" });
  return { ...server, origin: `http://${host}` };
}

export async function newContext(browser: Browser, origin: string, phone = false): Promise<BrowserContext> {
  const context = await browser.newContext({
    acceptDownloads: true,
    ...(phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }
      : { viewport: { width: 1200, height: 860 } }),
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  return context;
}

/** Saves a full-page screenshot as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** True when the page fits the window without sideways scrolling. */
export async function fitsWidth(page: Page): Promise<boolean> {
  // A string, because this code runs in the page, not in Node.
  return page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth");
}
