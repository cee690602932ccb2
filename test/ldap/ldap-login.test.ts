/**
 * fetch_api_key against a real OpenLDAP directory (docs/zulip-rules.md §4.3): usernames and emails, the
 * membership restriction, disabled people, account creation, and the full name.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAccount, setAccountActive } from "../../src/domain/accounts.js";
import { basic, PASSWORD } from "../helper.js";
import { AUTH_FAILED, DEACTIVATED, emailAttrEnv, makeLdapServer, PASSWORDS } from "./ldap-helper.js";
import { type Slapd, STAFF_GROUP, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-login", () => {
  after(async () => {
    await slapd?.close();
  });

  test("with LDAP on, server_settings says usernames need not be emails; with it off, they must be", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    const settings = async () =>
      (await server.app.inject({ method: "GET", url: "/api/v1/server_settings" })).json() as Record<string, unknown>;
    const on = await settings();
    assert.equal(on.require_email_format_usernames, false);
    assert.deepEqual(
      { ...(on.authentication_methods as object) },
      { ...(on.authentication_methods as object), password: true, ldap: true, email: false },
    );
    assert.equal(on.email_auth_enabled, false);

    await server.setMethods({ email: true, ldap: false });
    const off = await settings();
    assert.equal(off.require_email_format_usernames, true);
    assert.equal((off.authentication_methods as Record<string, boolean>).ldap, false);
    // Without LDAP the email syntax is checked again (§1 step 4).
    const plain = await server.login("alice", PASSWORDS.alice);
    assert.equal(plain.status, 400);
    assert.deepEqual(plain.body, { result: "error", msg: "Enter a valid email address.", code: "BAD_REQUEST" });
  });

  test("a directory user with an account logs in with their email or their LDAP username, and the key works", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    const { user } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "alice@example.com",
      fullName: "Alice (old name)",
      password: null,
    });

    for (const username of ["alice@example.com", "ALICE@example.com", "alice"]) {
      const ok = await server.login(username, PASSWORDS.alice);
      assert.equal(ok.status, 200, username);
      assert.equal(ok.body.email, "alice@example.com");
      assert.equal(ok.body.user_id, user.id);
      // The password was checked by the directory, not hashed here.
      assert.equal(ok.work, 0);
      const me = await server.app.inject({
        method: "GET",
        url: "/api/v1/users/me",
        headers: { authorization: basic("alice@example.com", ok.body.api_key as string) },
      });
      assert.equal(me.statusCode, 200);
      // The full name follows the directory.
      assert.equal((me.json() as Record<string, unknown>).full_name, "Alice Liddell");
    }
    assert.equal((await server.ctx.stores.users.findById(user.id))?.fullName, "Alice Liddell");
    // No account was made on the side.
    assert.equal((await server.ctx.stores.users.listByRealm(server.realm.id)).length, 2);
  });

  test("no such user, a wrong password and an empty password are the same failure at the same hashing cost", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    await createAccount(server.ctx, { realmId: server.realm.id, email: "alice@example.com", fullName: "Alice", password: null });
    const cases: [string, string, string][] = [
      ["wrong password, by username", "alice", "not-her-password"],
      ["wrong password, by email", "alice@example.com", "not-her-password"],
      ["another person's password", "alice", PASSWORDS.bob],
      ["no such username", "nobody", PASSWORDS.alice],
      ["no such email", "nobody@example.com", PASSWORDS.alice],
      // The fixture's slapd accepts a DN with an empty password (an unauthenticated bind).
      ["empty password", "alice", ""],
      ["empty password, by email", "alice@example.com", ""],
      ["an account of this server that the directory does not know", "hamlet@zulip.com", PASSWORD],
    ];
    for (const [label, username, password] of cases) {
      const outcome = await server.login(username, password);
      assert.equal(outcome.status, 401, label);
      assert.deepEqual(outcome.body, AUTH_FAILED, label);
      assert.equal(outcome.work, 1, label);
    }
  });

  test("a person disabled in the directory cannot log in, and their account is deactivated", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    // Without an account, none is created for them.
    const first = await server.login("dave", PASSWORDS.dave);
    assert.deepEqual(first.body, AUTH_FAILED);
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "dave@example.com"), null);

    const { user, apiKey } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "dave@example.com",
      fullName: "Dave",
      password: null,
    });
    // A wrong password changes nothing.
    assert.deepEqual((await server.login("dave", "wrong")).body, AUTH_FAILED);
    assert.equal((await server.ctx.stores.users.findById(user.id))?.isActive, true);

    const refused = await server.login("dave@example.com", PASSWORDS.dave);
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.body, DEACTIVATED);
    assert.equal((await server.ctx.stores.users.findById(user.id))?.isActive, false);
    // The key they had stops working at once.
    const me = await server.app.inject({
      method: "GET",
      url: "/api/v1/users/me",
      headers: { authorization: basic("dave@example.com", apiKey) },
    });
    assert.equal(me.statusCode, 401);
    assert.ok(server.log.some((line) => line.includes("disabled in the LDAP directory")));
  });

  test("an account deactivated here stays out even with the right directory password", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    const { user } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "bob@example.com",
      fullName: "Bob",
      password: null,
    });
    await setAccountActive(server.ctx, user.id, false);
    await server.setMethods({ autoCreate: true });
    const outcome = await server.login("bob", PASSWORDS.bob);
    assert.deepEqual(outcome.body, DEACTIVATED);
    assert.equal((await server.ctx.stores.users.listByRealm(server.realm.id)).length, 2);
  });

  test("a directory user without an account gets one on first login only when the organization allows it", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    const refused = await server.login("bob", PASSWORDS.bob);
    assert.deepEqual(refused.body, AUTH_FAILED);
    assert.equal(refused.work, 1);
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "bob@example.com"), null);

    await server.setMethods({ autoCreate: true });
    const created = await server.login("bob", PASSWORDS.bob);
    assert.equal(created.status, 200);
    assert.equal(created.body.email, "bob@example.com");
    const bob = await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "bob@example.com");
    assert.ok(bob);
    assert.equal(bob.id, created.body.user_id);
    assert.equal(bob.fullName, "Bob Builder");
    assert.equal(bob.passwordHash, null);
    assert.equal(bob.isActive, true);
    // The next login finds the same account and the same key.
    const again = await server.login("bob@example.com", PASSWORDS.bob);
    assert.equal(again.body.user_id, bob.id);
    assert.equal(again.body.api_key, created.body.api_key);
    // A wrong password creates nothing.
    assert.deepEqual((await server.login("carol", "wrong")).body, AUTH_FAILED);
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "carol@example.com"), null);
    // Emails from the directory may be in any domain.
    const erin = await server.login("erin", PASSWORDS.erin);
    assert.equal(erin.status, 200);
    assert.equal(erin.body.email, "erin@partner.org");
  });

  test("the membership restriction keeps people outside the group out, right password or not", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_REQUIRE_GROUP: STAFF_GROUP }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const carol = await server.login("carol", PASSWORDS.carol);
    assert.equal(carol.status, 401);
    assert.deepEqual(carol.body, AUTH_FAILED);
    assert.equal(carol.work, 1);
    assert.equal(await server.ctx.stores.users.findByDeliveryEmail(server.realm.id, "carol@example.com"), null);
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);

    // A group that does not exist has no members.
    const strict = await makeLdapServer(
      emailAttrEnv(slapd, { LATCHKEY_LDAP_REQUIRE_GROUP: "cn=nobody,ou=groups,dc=example,dc=com" }),
    );
    t.after(() => strict.close());
    await strict.setMethods({ autoCreate: true });
    assert.deepEqual((await strict.login("alice", PASSWORDS.alice)).body, AUTH_FAILED);
  });

  test("APPEND_DOMAIN: plain usernames and emails in the domain log in; an email in a foreign domain does not", async (t) => {
    if (slapd === null) return;
    const env = emailAttrEnv(slapd, { LATCHKEY_LDAP_APPEND_DOMAIN: "Example.com" });
    delete env.LATCHKEY_LDAP_EMAIL_ATTR;
    delete env.LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH;
    delete env.LATCHKEY_LDAP_USERNAME_ATTR;
    const server = await makeLdapServer(env);
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const settings = (await server.app.inject({ method: "GET", url: "/api/v1/server_settings" })).json() as Record<
      string,
      unknown
    >;
    assert.equal(settings.require_email_format_usernames, false);

    const byName = await server.login("alice", PASSWORDS.alice);
    assert.equal(byName.status, 200);
    assert.equal(byName.body.email, "alice@example.com");
    const byEmail = await server.login("alice@EXAMPLE.com", PASSWORDS.alice);
    assert.equal(byEmail.body.user_id, byName.body.user_id);

    // Erin's mail is at partner.org, but in this mode the email is the username at the domain.
    const erin = await server.login("erin", PASSWORDS.erin);
    assert.equal(erin.status, 200);
    assert.equal(erin.body.email, "erin@example.com");
    // An email outside the domain is refused without asking the directory, right password or not.
    for (const username of ["erin@partner.org", "alice@partner.org"]) {
      const outside = await server.login(username, username.startsWith("erin") ? PASSWORDS.erin : PASSWORDS.alice);
      assert.equal(outside.status, 401);
      assert.deepEqual(outside.body, AUTH_FAILED);
      assert.equal(outside.work, 1);
    }
  });

  test("email and LDAP both on: either password works, and an attempt counts once in the throttle", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    await server.setMethods({ email: true, ldap: true, autoCreate: true });
    assert.equal((await server.login("hamlet@zulip.com", PASSWORD)).status, 200);
    const alice = await server.login("alice", PASSWORDS.alice);
    assert.equal(alice.status, 200);
    // Alice now has an account without a local password; LDAP still checks her.
    assert.equal((await server.login("alice@example.com", PASSWORDS.alice)).status, 200);

    // A local user with a wrong password: one verification, not one per backend.
    assert.equal((await server.login("hamlet@zulip.com", "wrong")).work, 1);
    assert.equal((await server.login("alice@example.com", "wrong")).work, 1);

    // Five failures in a row without moving the clock: each counts once, the sixth is refused.
    server.clock.advance(3600);
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.app.inject({
        method: "POST",
        url: "/api/v1/fetch_api_key",
        payload: new URLSearchParams({ username: "alice@example.com", password: "wrong" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      assert.equal(res.statusCode, 401);
      remaining.push(res.headers["x-ratelimit-remaining"] as string);
    }
    assert.deepEqual(remaining, ["4", "3", "2", "1", "0"]);
    const limited = await server.app.inject({
      method: "POST",
      url: "/api/v1/fetch_api_key",
      payload: new URLSearchParams({ username: "alice@example.com", password: PASSWORDS.alice }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(limited.statusCode, 429);
  });

  test("spellings the directory treats as one name share one throttle budget", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const attempt = (username: string, password: string) =>
      server.app.inject({
        method: "POST",
        url: "/api/v1/fetch_api_key",
        payload: new URLSearchParams({ username, password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    // The directory matches uid without regard to case or surrounding spaces.
    assert.equal((await server.login("ALICE", PASSWORDS.alice)).status, 200);
    server.clock.advance(3600);
    for (const username of ["alice", "Alice", "ALICE", " alice", "alice "]) {
      assert.equal((await attempt(username, "wrong")).statusCode, 401, username);
    }
    const limited = await attempt("aLiCe", PASSWORDS.alice);
    assert.equal(limited.statusCode, 429);
    assert.equal((limited.json() as Record<string, unknown>).code, "RATE_LIMIT_HIT");
    assert.ok(limited.headers["retry-after"]);
    // A name without an entry is refused at the same point, so the 429 tells nothing about who exists.
    for (const username of ["zed", "Zed", "ZED", " zed", "zed "]) {
      assert.equal((await attempt(username, "wrong")).statusCode, 401, username);
    }
    assert.equal((await attempt("zEd", "wrong")).statusCode, 429);
    // Other people are not affected, and the budget comes back with time.
    assert.equal((await attempt("bob", PASSWORDS.bob)).statusCode, 200);
    server.clock.advance(1800);
    assert.equal((await attempt("aLiCe", PASSWORDS.alice)).statusCode, 200);
    // A success clears it.
    for (const username of ["alice", "Alice", "ALICE", " alice"]) await attempt(username, "wrong");
    assert.equal((await attempt("alice ", PASSWORDS.alice)).statusCode, 200);
    assert.equal((await attempt("ALIce", "wrong")).statusCode, 401);
  });

  test("with APPEND_DOMAIN, alice and alice@<domain> are one person with one login budget", async (t) => {
    if (slapd === null) return;
    const env = emailAttrEnv(slapd, { LATCHKEY_LDAP_APPEND_DOMAIN: "example.com" });
    delete env.LATCHKEY_LDAP_EMAIL_ATTR;
    const server = await makeLdapServer(env);
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const attempt = (username: string, password: string) =>
      server.app.inject({
        method: "POST",
        url: "/api/v1/fetch_api_key",
        payload: new URLSearchParams({ username, password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    const outcomes: number[] = [];
    for (const username of [
      "alice",
      "alice@example.com",
      "ALICE",
      "Alice@Example.com",
      "alice@EXAMPLE.COM",
      "alice",
      "ALICE@example.com",
      "aLiCe",
    ]) {
      outcomes.push((await attempt(username, "wrong")).statusCode);
    }
    assert.deepEqual(outcomes, [401, 401, 401, 401, 401, 429, 429, 429]);
    assert.equal((await attempt("alice@example.com", PASSWORDS.alice)).statusCode, 429);
    // Bob keeps his own budget.
    assert.equal((await attempt("bob", PASSWORDS.bob)).statusCode, 200);
  });

  test("Active Directory's userAccountControl: the disabled bit keeps a person out and deactivates the account", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_DEACTIVATED_ATTR: "userAccountControl" }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    const frank = await server.login("frank", PASSWORDS.frank);
    assert.equal(frank.status, 200);
    const { user: gina } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "gina@example.com",
      fullName: "Gina",
      password: null,
    });
    assert.deepEqual((await server.login("gina", PASSWORDS.gina)).body, DEACTIVATED);
    assert.equal((await server.ctx.stores.users.findById(gina.id))?.isActive, false);
    // employeeType is no longer the marker here, so Dave's "disabled" means nothing.
    assert.equal((await server.login("dave", PASSWORDS.dave)).status, 200);
  });
});
