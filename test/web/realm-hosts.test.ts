/**
 * Every URL the server writes names the organization's configured host: with
 * LATCHKEY_REALM_HOSTS, server_settings, zuliprc, dev_list_users, the settings pages, the mobile
 * flow's `realm`, reset links and new-login emails all say `chat.lear.example`, whichever of the
 * organization's hosts the request came in on. Reset links never take their host from the
 * request.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import { zuliprcFor } from "../../src/domain/zuliprc.js";
import { form, json, makeTestServer, PASSWORD } from "../helper.js";
import { InjectBrowser } from "./web-helper.js";

const LEAR = "http://chat.lear.example";

test("with LATCHKEY_REALM_HOSTS every output that carries an organization URL names the configured host", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_REALM_HOSTS: "lear=chat.lear.example" } });
  t.after(() => server.close());
  const lear = await createRealm(server.ctx, { subdomain: "lear", name: "Lear" });
  const { user: regan } = await createAccount(server.ctx, {
    realmId: lear.id,
    email: "regan@lear.example",
    fullName: "Regan",
    password: PASSWORD,
  });
  // Past Zulip's one-minute grace after signing up, so logins send their notice.
  server.clock.advance(120);
  const urls: Record<string, string[]> = {};
  const note = (what: string, text: string) => {
    urls[what] = [...text.matchAll(/https?:\/\/[a-z0-9.:-]*[a-z0-9]/gi)].map((m) => m[0]);
  };

  // The organization's two hosts: its configured one, and its subdomain of the root host.
  for (const host of ["chat.lear.example", "lear.testserver"]) {
    const settings = json(await server.app.inject({ method: "GET", url: "/api/v1/server_settings", headers: { host } }));
    note(`server_settings via ${host}`, `${settings.realm_uri} ${settings.realm_url}`);

    // The new-login email of an API login.
    server.mailer.sent.length = 0;
    const login = await server.app.inject({
      method: "POST",
      url: "/api/v1/fetch_api_key",
      ...form({ username: "regan@lear.example", password: PASSWORD }),
      headers: { host, "content-type": "application/x-www-form-urlencoded", "user-agent": "ZulipMobile/27.0 (Android 14)" },
    });
    assert.equal(login.statusCode, 200, login.body);
    note(`new-login email via ${host}`, server.mailer.sent.map((m) => m.text).join("\n"));

    // The settings pages.
    const browser = new InjectBrowser(server.app, host);
    assert.equal((await browser.login("regan@lear.example", PASSWORD)).statusCode, 302);
    note(`account page via ${host}`, /data-site="([^"]+)"/.exec((await browser.get("/settings/account")).body)?.[1] ?? "");
    note(`bots page via ${host}`, /data-site="([^"]+)"/.exec((await browser.get("/settings/bots")).body)?.[1] ?? "");

    // The mobile flow's redirect.
    const mobile = await new InjectBrowser(server.app, host).login("regan@lear.example", PASSWORD, {
      mobile_flow_otp: randomBytes(32).toString("hex"),
    });
    note(`mobile flow via ${host}`, new URL(String(mobile.headers.location)).searchParams.get("realm") ?? "");

    // A reset link, asked for on this host.
    server.mailer.sent.length = 0;
    const asker = new InjectBrowser(server.app, host);
    await asker.post("/accounts/password/reset/", {
      _csrf: await asker.csrfFrom("/accounts/password/reset/"),
      email: "regan@lear.example",
    });
    note(`reset email via ${host}`, server.mailer.sent.map((m) => m.text).join("\n"));
    server.clock.advance(3600);
  }
  note("zuliprc", await zuliprcFor(server.ctx, regan));
  const users = json(await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users" }));
  note("dev_list_users", JSON.stringify(users.direct_users));

  for (const [what, found] of Object.entries(urls)) {
    assert.ok(found.length > 0, `${what} carries a URL`);
    // dev_list_users lists the root organization's people too.
    const expected = what === "dev_list_users" ? found.map((u) => (u === "http://testserver" ? u : LEAR)) : found.map(() => LEAR);
    assert.deepEqual(found, expected, what);
  }
  assert.ok(urls["reset email via lear.testserver"]?.length, "the reset email was sent");
});

test("a reset link never takes its host from the request, even from a Host header that selects the organization by alias", async (t) => {
  const server = await makeTestServer({
    env: { LATCHKEY_REALM_HOSTS: "lear=chat.lear.example", LATCHKEY_ROOT_SUBDOMAIN_ALIASES: "www" },
  });
  t.after(() => server.close());
  // The root organization, asked for through its www alias and an arbitrary host.
  for (const host of ["www.testserver", "evil.example"]) {
    server.mailer.sent.length = 0;
    const asker = new InjectBrowser(server.app, host);
    await asker.post("/accounts/password/reset/", {
      _csrf: await asker.csrfFrom("/accounts/password/reset/"),
      email: "hamlet@zulip.com",
    });
    const text = server.mailer.sent.map((m) => m.text).join("\n");
    assert.match(text, /http:\/\/testserver\/accounts\/password\/reset\/confirm\/\?token=/, host);
    assert.doesNotMatch(text, new RegExp(host.replace(".", "\\.")), host);
    server.clock.advance(3600);
  }
});
