/**
 * Every value that reaches a search filter is escaped (RFC 4515): filter syntax in a username
 * or an email matches itself literally, and never widens a search to someone else.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fillFilter } from "../../src/auth/ldap-directory.js";
import { AUTH_FAILED, appendDomainEnv, emailAttrEnv, makeLdapServer, PASSWORDS } from "./ldap-helper.js";
import { type Slapd, STAFF_GROUP, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-injection", () => {
  after(async () => {
    await slapd?.close();
  });

  test("filter templates get every special character escaped", () => {
    assert.equal(fillFilter("(uid=%(user)s)", { user: "a*b(c)d\\e\u0000f" }), "(uid=a\\2ab\\28c\\29d\\5ce\\00f)");
    assert.equal(
      fillFilter("(&(objectClass=person)(|(mail=%(email)s)(uid=%(email)s)))", { email: "*)(uid=*" }),
      "(&(objectClass=person)(|(mail=\\2a\\29\\28uid=\\2a)(uid=\\2a\\29\\28uid=\\2a)))",
    );
    // A value holding a placeholder is not filled in a second time.
    assert.equal(fillFilter("(uid=%(user)s)", { user: "%(user)s" }), "(uid=%\\28user\\29s)");
  });

  const ATTACKS = [
    "*",
    "a*",
    "*lice",
    "alice*",
    "*)(uid=*",
    "alice)(|(uid=*",
    "alice)(uid=*)(|(uid=x",
    "(uid=alice)",
    "alice\\",
    "alice\\2a",
    "\\2a",
    "alice\u0000",
    "alice\u0000)(uid=*",
    "*@example.com",
    "alice*@example.com",
    "*)(mail=*@example.com",
    "al(ice@example.com",
  ];

  test("usernames and emails made of filter syntax match nobody, whatever password they carry", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_REQUIRE_GROUP: STAFF_GROUP }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    for (const username of ATTACKS) {
      for (const password of [PASSWORDS.alice, PASSWORDS.bob, "*", "wrong"]) {
        const outcome = await server.login(username, password);
        assert.equal(outcome.status, 401, JSON.stringify(username));
        assert.deepEqual(outcome.body, AUTH_FAILED, JSON.stringify(username));
        assert.equal(outcome.work, 1);
      }
    }
    // Only the two real directory users, alice not among them, and no account was made.
    assert.deepEqual(
      (await server.ctx.stores.users.listByRealm(server.realm.id)).map((u) => u.deliveryEmail),
      ["hamlet@zulip.com"],
    );
    // A directory error from a strange value is not a failure to reach the directory.
    assert.ok(!server.log.some((line) => line.includes("LDAP directory unavailable")));
  });

  test("a username that really is made of filter characters matches exactly its own entry", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_REQUIRE_GROUP: STAFF_GROUP }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const ok = await server.login("star*(x)", PASSWORDS.star);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.email, "star@example.com");
    // A prefix of it, as a wildcard would have matched, is nobody.
    assert.deepEqual((await server.login("star*", PASSWORDS.star)).body, AUTH_FAILED);
    assert.deepEqual((await server.login("star", PASSWORDS.star)).body, AUTH_FAILED);
  });

  test("APPEND_DOMAIN: the local part of an email is escaped like any username", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(appendDomainEnv(slapd));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    for (const username of ["*@example.com", "a*@example.com", "*)(uid=*@example.com", "*", "alice)(uid=*"]) {
      const outcome = await server.login(username, PASSWORDS.alice);
      assert.deepEqual(outcome.body, AUTH_FAILED, username);
    }
    assert.equal((await server.ctx.stores.users.listByRealm(server.realm.id)).length, 1);
  });

  test("huge and odd usernames are an ordinary failure, not a directory outage", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_BODY_LIMIT: String(4 * 1024 * 1024) }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    // As large as a login body may be (64 KiB, whatever LATCHKEY_BODY_LIMIT says).
    const odd = ["a".repeat(60_000), `${"b".repeat(50_000)}@example.com`, "\ud800", "al\u200bice", "\u0000"];
    for (const username of odd) {
      const outcome = await server.login(username, PASSWORDS.alice);
      assert.equal(outcome.status, 401, username.slice(0, 20));
      assert.deepEqual(outcome.body, AUTH_FAILED);
    }
    // Larger ones never reach the directory: the body is refused first.
    const huge = await server.login("a".repeat(1024 * 1024), PASSWORDS.alice);
    assert.equal(huge.status, 413);
    assert.ok(!server.log.some((line) => line.includes("LDAP directory unavailable")));
  });
});
