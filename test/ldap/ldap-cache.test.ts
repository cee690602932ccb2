/**
 * A full name taken from the directory on an LDAP login reaches users/me at once, even for a
 * key whose answer was cached before the login.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAccount } from "../../src/domain/accounts.js";
import { basic } from "../helper.js";
import { emailAttrEnv, makeLdapServer, PASSWORDS } from "./ldap-helper.js";
import { type Slapd, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-cache", () => {
  after(async () => {
    await slapd?.close();
  });

  test("the directory's full name replaces a cached one on the next users/me", async (t) => {
    if (slapd === null) return;
    const server = await makeLdapServer(emailAttrEnv(slapd));
    t.after(() => server.close());
    const { apiKey } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "alice@example.com",
      fullName: "Alice (old name)",
      password: null,
    });
    const me = async () =>
      (
        await server.app.inject({
          method: "GET",
          url: "/api/v1/users/me",
          headers: { authorization: basic("alice@example.com", apiKey) },
        })
      ).json() as Record<string, unknown>;
    assert.equal((await me()).full_name, "Alice (old name)");
    assert.equal((await me()).full_name, "Alice (old name)");

    const login = await server.login("alice", PASSWORDS.alice);
    assert.equal(login.status, 200);
    assert.equal((await me()).full_name, "Alice Liddell");
  });
});
