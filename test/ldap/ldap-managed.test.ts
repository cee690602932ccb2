/**
 * Accounts the directory manages stay in the directory (Zulip's `email_belongs_to_ldap`): such an
 * address never logs in with a password kept here, even one set before LDAP was turned on, and a
 * password reset for it sends no email. Addresses the directory does not manage keep their local
 * passwords and resets. Against the real slapd, with an append domain and with a reverse email search.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAccount } from "../../src/domain/accounts.js";
import { PASSWORD } from "../helper.js";
import { csrfTokenIn, InjectBrowser } from "../web/web-helper.js";
import { AUTH_FAILED, emailAttrEnv, type LdapTestServer, makeLdapServer, PASSWORDS } from "./ldap-helper.js";
import { type Slapd, startSlapd } from "./slapd.js";

const LOCAL_PASSWORD = "a local Passw0rd kept here";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});

describe("ldap-managed", () => {
  after(async () => {
    await slapd?.close();
  });

  const configurations: [string, (slapd: Slapd) => Record<string, string>][] = [
    [
      "an append domain",
      (s) => {
        const env = emailAttrEnv(s, { LATCHKEY_LDAP_APPEND_DOMAIN: "example.com" });
        delete env.LATCHKEY_LDAP_EMAIL_ATTR;
        return env;
      },
    ],
    ["a reverse email search", (s) => emailAttrEnv(s)],
  ];

  for (const [name, envFor] of configurations) {
    /** A server with email and LDAP login on, where Alice (in the directory) also has a local password. */
    async function serverWithLocalAlice(): Promise<LdapTestServer> {
      const server = await makeLdapServer(envFor(slapd as Slapd));
      await server.setMethods({ email: true, ldap: true, autoCreate: true });
      await createAccount(server.ctx, {
        realmId: server.realm.id,
        email: "alice@example.com",
        fullName: "Alice",
        password: LOCAL_PASSWORD,
      });
      return server;
    }

    test(`with ${name}: an address the directory manages never logs in with a local password`, async (t) => {
      if (slapd === null) return;
      const server = await serverWithLocalAlice();
      t.after(() => server.close());
      const local = await server.login("alice@example.com", LOCAL_PASSWORD);
      assert.equal(local.status, 401);
      assert.deepEqual(local.body, AUTH_FAILED);
      assert.equal(local.work, 1, "the refusal costs the usual one verification");
      assert.equal((await server.login("alice@example.com", PASSWORDS.alice)).status, 200);
      // Someone the directory does not know keeps the password kept here.
      assert.equal((await server.login("hamlet@zulip.com", PASSWORD)).status, 200);
      // The web login form follows the same rule.
      const browser = new InjectBrowser(server.app);
      const page = await browser.login("alice@example.com", LOCAL_PASSWORD);
      assert.equal(page.statusCode, 401);
      assert.equal((await new InjectBrowser(server.app).login("alice@example.com", PASSWORDS.alice)).statusCode, 302);
    });

    test(`with ${name}: a password reset for an address the directory manages sends no email, and says what it says for any address`, async (t) => {
      if (slapd === null) return;
      const server = await serverWithLocalAlice();
      t.after(() => server.close());
      const reset = async (email: string) => {
        const browser = new InjectBrowser(server.app);
        const form = await browser.get("/accounts/password/reset/");
        return browser.post("/accounts/password/reset/", { _csrf: csrfTokenIn(form.body) as string, email });
      };
      const managed = await reset("alice@example.com");
      const unmanaged = await reset("hamlet@zulip.com");
      assert.equal(managed.statusCode, 200);
      assert.equal(unmanaged.statusCode, 200);
      assert.equal(
        managed.body.replaceAll("alice@example.com", "<address>"),
        unmanaged.body.replaceAll("hamlet@zulip.com", "<address>"),
      );
      assert.deepEqual(
        server.mailer.sent.map((m) => m.to),
        ["hamlet@zulip.com"],
      );
      assert.ok(server.log.some((line) => line.includes("password reset not allowed for an address managed by LDAP")));
    });
  }
});
