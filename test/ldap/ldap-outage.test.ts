/**
 * A directory that is down or does not answer: LDAP logins get a clear 503 in the JSON
 * envelope once the timeout has passed, the error is logged, passwords kept by this server for
 * addresses the directory cannot manage still work, and logins come back when the directory
 * does. Never a hang or a 500.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PASSWORD } from "../helper.js";
import { unreachableRedisUrl } from "../redis-helper.js";
import { AUTH_FAILED, emailAttrEnv, makeLdapServer, PASSWORDS, UNAVAILABLE } from "./ldap-helper.js";
import { type Slapd, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-outage", () => {
  after(async () => {
    await slapd?.close();
  });

  /** A URL on which nothing listens. */
  async function deadUrl(): Promise<string> {
    return (await unreachableRedisUrl()).replace("redis://", "ldap://");
  }

  test("a directory stopped mid-suite: 503 with a clear message and a log line; back when it is", async (t) => {
    if (slapd === null) return;
    const directory = slapd;
    const server = await makeLdapServer(emailAttrEnv(directory, { LATCHKEY_LDAP_TIMEOUT_MS: "1000" }));
    t.after(async () => {
      await directory.start().catch(() => {});
      await server.close();
    });
    await server.setMethods({ email: true, ldap: true, autoCreate: true });
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);

    await directory.stop();
    for (const username of ["alice", "alice@example.com", "nobody"]) {
      const down = await server.login(username, PASSWORDS.alice);
      assert.equal(down.status, 503, username);
      assert.deepEqual(down.body, UNAVAILABLE);
      assert.equal(down.res.headers["content-type"], "application/json; charset=utf-8");
      // The same hashing work as any failure, so the outage does not tell accounts apart either.
      assert.equal(down.work, 1);
    }
    const lines = server.log.filter((line) => line.includes("LDAP directory unavailable"));
    assert.equal(lines.length, 3);
    assert.match(lines[0] as string, /"level":50/);
    assert.match(lines[0] as string, /ECONNREFUSED|no directory server reachable/);
    assert.ok(!server.log.some((line) => line.includes(PASSWORDS.alice)));
    // With a reverse email search, whether the directory manages an address takes the directory
    // to tell, so a password kept here waits for it too (an address it manages must never log in
    // with a local password).
    assert.equal((await server.login("hamlet@zulip.com", PASSWORD)).status, 503);

    await directory.start();
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);
    assert.deepEqual((await server.login("alice", "wrong")).body, AUTH_FAILED);
  });

  test("with an append domain, a password kept here for an address outside it works while the directory is down", async (t) => {
    if (slapd === null) return;
    const directory = slapd;
    const env = emailAttrEnv(directory, { LATCHKEY_LDAP_TIMEOUT_MS: "1000", LATCHKEY_LDAP_APPEND_DOMAIN: "example.com" });
    delete env.LATCHKEY_LDAP_EMAIL_ATTR;
    const server = await makeLdapServer(env);
    t.after(async () => {
      await directory.start().catch(() => {});
      await server.close();
    });
    await server.setMethods({ email: true, ldap: true, autoCreate: true });
    await directory.stop();
    assert.equal((await server.login("alice@example.com", PASSWORDS.alice)).status, 503);
    assert.equal((await server.login("hamlet@zulip.com", PASSWORD)).status, 200);
    await directory.start();
  });

  test("a directory that accepts connections but never answers: 503 once the timeout passes, not a hang", async (t) => {
    if (slapd === null) return;
    const directory = slapd;
    const server = await makeLdapServer(
      emailAttrEnv(directory, { LATCHKEY_LDAP_TIMEOUT_MS: "400", LATCHKEY_LDAP_CONNECT_TIMEOUT_MS: "200" }),
    );
    t.after(async () => {
      directory.thaw();
      await server.close();
    });
    directory.freeze();
    const frozen = await server.login("alice", PASSWORDS.alice);
    assert.equal(frozen.status, 503);
    assert.deepEqual(frozen.body, UNAVAILABLE);
    assert.ok(server.log.some((line) => line.includes("LDAP directory unavailable") && line.includes("400 ms")));
    directory.thaw();
    await server.setMethods({ autoCreate: true });
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);
  });

  test("several servers: a dead one is skipped for the next", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_SERVER_URI: `${await deadUrl()}, ${slapd.url}` }));
    t.after(() => server.close());
    await server.setMethods({ autoCreate: true });
    assert.equal((await server.login("alice", PASSWORDS.alice)).status, 200);

    const none = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_SERVER_URI: `${await deadUrl()},${await deadUrl()}` }));
    t.after(() => none.close());
    assert.deepEqual((await none.login("alice", PASSWORDS.alice)).body, UNAVAILABLE);
  });

  test("a service account the directory refuses is a configuration error, logged, and a 503", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd, { LATCHKEY_LDAP_BIND_PASSWORD: "not-the-service-password" }));
    t.after(() => server.close());
    const outcome = await server.login("alice", PASSWORDS.alice);
    assert.equal(outcome.status, 503);
    assert.deepEqual(outcome.body, UNAVAILABLE);
    assert.ok(server.log.some((line) => line.includes("service bind refused")));
    assert.ok(!server.log.some((line) => line.includes("not-the-service-password")));
  });
});
