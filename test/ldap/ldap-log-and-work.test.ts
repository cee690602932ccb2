/**
 * LDAP against the rules of issue 6: every failure costs one password verification and reads
 * like a wrong password, on fetch_api_key and on the web login alike; and over a run of LDAP
 * flows (logins, injection attempts, an outage) no password, bind password, key or session
 * secret reaches the log.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import { PASSWORD } from "../helper.js";
import { InjectBrowser, pageError } from "../web/web-helper.js";
import { AUTH_FAILED, emailAttrEnv, makeLdapServer, PASSWORDS, UNAVAILABLE } from "./ldap-helper.js";
import { SERVICE_PASSWORD, type Slapd, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-log-and-work", () => {
  after(async () => {
    await slapd?.close();
  });

  test("email and LDAP both on: unknown, foreign and account-less people fail as a wrong password at one verification, on the API and the web", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    await server.setMethods({ email: true, ldap: true, autoCreate: false });
    // Carol is in the directory, with an account only in another organization.
    const other = await createRealm(server.ctx, { subdomain: "other", name: "Another organization" });
    await createAccount(server.ctx, { realmId: other.id, email: "carol@example.com", fullName: "Carol", password: PASSWORD });
    const cases: [string, string, string][] = [
      ["a wrong password of a local account", "hamlet@zulip.com", "wrong-Passw0rd"],
      ["a wrong directory password", "alice", "wrong-Passw0rd"],
      ["nobody, by email", "nobody@example.com", PASSWORDS.alice],
      ["nobody, by username", "nobody", PASSWORDS.alice],
      ["an account of another organization, its own password", "carol@example.com", PASSWORD],
      ["a directory person without an account here, auto-creation off", "carol", PASSWORDS.carol],
      ["a directory person without an account here, by email", "carol@example.com", PASSWORDS.carol],
    ];
    for (const [label, username, password] of cases) {
      const outcome = await server.login(username, password);
      assert.equal(outcome.status, 401, label);
      assert.deepEqual(outcome.body, AUTH_FAILED, label);
      assert.equal(outcome.work, 1, label);

      server.clock.advance(3600);
      const before = server.hasher.work;
      const page = await new InjectBrowser(server.app).login(username, password);
      assert.equal(page.statusCode, 401, `web: ${label}`);
      assert.equal(pageError(page.body), "Your username or password is incorrect", `web: ${label}`);
      assert.equal(server.hasher.work - before, 1, `web: ${label}`);
    }
    // Nothing was created for anyone along the way.
    const users = await server.ctx.stores.users.listByRealm(server.realm.id);
    assert.deepEqual(users.map((u) => u.deliveryEmail).sort(), ["hamlet@zulip.com"]);
  });

  test("a run of LDAP logins, injection attempts and an outage logs no password, bind password, key or session", async (t) => {
    if (slapd === null) return;
    const directory = slapd;
    const server = await makeLdapServer(emailAttrEnv(directory, { LATCHKEY_LDAP_TIMEOUT_MS: "1000" }));
    t.after(async () => {
      await directory.start().catch(() => {});
      await server.close();
    });
    await server.setMethods({ email: true, ldap: true, autoCreate: true });
    const secrets = new Set<string>([SERVICE_PASSWORD, PASSWORD, ...Object.values(PASSWORDS)]);

    const ok = await server.login("alice", PASSWORDS.alice);
    assert.equal(ok.status, 200);
    secrets.add(ok.body.api_key as string);
    assert.equal((await server.login("alice@example.com", "Wrong-Ldap-Passw0rd")).status, 401);
    secrets.add("Wrong-Ldap-Passw0rd");
    for (const username of ["*", "alice)(uid=*", "al\\2aice", "alice\u0000", "(&(uid=*))"]) {
      assert.equal((await server.login(username, "Injected-Passw0rd")).status, 401, username);
    }
    secrets.add("Injected-Passw0rd");
    const browser = new InjectBrowser(server.app);
    assert.equal((await browser.login("bob", PASSWORDS.bob)).statusCode, 302);
    for (const value of browser.cookies.values()) if (value.length >= 16) secrets.add(value);

    await directory.stop();
    const down = await server.login("alice", PASSWORDS.alice);
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, UNAVAILABLE);
    assert.equal((await new InjectBrowser(server.app).login("erin", PASSWORDS.erin)).statusCode, 503);
    await directory.start();
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);

    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(
      server.log.some((line) => line.includes("LDAP directory unavailable")),
      "the outage is logged",
    );
    for (const secret of secrets) {
      const leaking = server.log.find((line) => line.includes(secret));
      assert.equal(leaking, undefined, `a log line holds a secret: ${leaking}`);
    }
    for (const line of server.log)
      assert.equal(typeof (JSON.parse(line) as { reqId?: unknown }).reqId, "string", `no request id on ${line}`);
  });
});
