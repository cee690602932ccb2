/** LDAPS and StartTLS with a CA file, against a slapd whose certificate a fresh test CA signed. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { emailAttrEnv, makeLdapServer, PASSWORDS, UNAVAILABLE } from "./ldap-helper.js";
import { type Slapd, startSlapd } from "./slapd.js";

let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd({ tls: true });
});
describe("ldap-tls", () => {
  after(async () => {
    await slapd?.close();
  });

  test("ldaps:// and StartTLS log in when the server's certificate chains to the CA file", async (t) => {
    if (slapd === null) return;
    const { ldapsUrl, caFile, url } = slapd;
    assert.ok(ldapsUrl !== null && caFile !== null);
    const envs: Record<string, string>[] = [
      { LATCHKEY_LDAP_SERVER_URI: ldapsUrl, LATCHKEY_LDAP_CA_FILE: caFile },
      { LATCHKEY_LDAP_SERVER_URI: url, LATCHKEY_LDAP_START_TLS: "true", LATCHKEY_LDAP_CA_FILE: caFile },
    ];
    for (const env of envs) {
      const server = await makeLdapServer(emailAttrEnv(slapd, env));
      t.after(() => server.close());
      await server.setMethods({ autoCreate: true });
      const ok = await server.login("alice", PASSWORDS.alice);
      assert.equal(ok.status, 200, JSON.stringify(env));
      assert.equal(ok.body.email, "alice@example.com");
    }
  });

  test("a certificate the CA file does not vouch for is refused: 503 and a log line, never a plain-text fallback", async (t) => {
    if (slapd === null) return;
    const { ldapsUrl, url } = slapd;
    assert.ok(ldapsUrl !== null);
    const envs: Record<string, string>[] = [
      { LATCHKEY_LDAP_SERVER_URI: ldapsUrl },
      { LATCHKEY_LDAP_SERVER_URI: url, LATCHKEY_LDAP_START_TLS: "true" },
    ];
    for (const env of envs) {
      const server = await makeLdapServer(emailAttrEnv(slapd, env));
      t.after(() => server.close());
      const refused = await server.login("alice", PASSWORDS.alice);
      assert.equal(refused.status, 503, JSON.stringify(env));
      assert.deepEqual(refused.body, UNAVAILABLE);
      assert.ok(server.log.some((line) => line.includes("LDAP directory unavailable") && /certificate/i.test(line)));
    }
  });
});
