/** The web login form checks directory passwords through the same backend as fetch_api_key. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { InjectBrowser, pageError } from "../web/web-helper.js";
import { emailAttrEnv, makeLdapServer, PASSWORDS } from "./ldap-helper.js";
import { type Slapd, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-web-login", () => {
  after(async () => {
    await slapd?.close();
  });

  test("the login page asks for an LDAP username, and a directory password opens a session", async (t) => {
    if (slapd === null) return;
    const directory = slapd;
    const server = await makeLdapServer(emailAttrEnv(directory, { LATCHKEY_LDAP_TIMEOUT_MS: "1000" }));
    t.after(async () => {
      await directory.start();
      await server.close();
    });
    await server.setMethods({ autoCreate: true });
    const browser = new InjectBrowser(server.app);
    const page = await browser.get("/login/");
    assert.match(page.body, /<label for="id_username">LDAP username<\/label>/);

    const wrong = await browser.login("alice", "wrong");
    assert.equal(wrong.statusCode, 401);
    assert.equal(pageError(wrong.body), "Your username or password is incorrect");

    const ok = await browser.login("alice", PASSWORDS.alice);
    assert.equal(ok.statusCode, 302);
    assert.equal(ok.headers.location, "/settings/account");
    assert.ok(browser.cookies.has("sessionid"));

    await directory.stop();
    const down = await new InjectBrowser(server.app).login("bob", PASSWORDS.bob);
    assert.equal(down.statusCode, 503);
    assert.equal(pageError(down.body), "LDAP login is temporarily unavailable; please try again later.");
  });
});
