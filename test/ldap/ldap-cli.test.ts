/** `latchkey realm login-methods --ldap-auto-create on|off` changes what the database holds. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openDatabase } from "../../src/store/database.js";
import { createStores } from "../../src/store/stores.js";

function latchkey(env: Record<string, string>, ...args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/bin.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env, LATCHKEY_LOG_LEVEL: "silent" },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

test("the CLI turns LDAP account creation on and off, and leaves the other login methods alone", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { LATCHKEY_DATABASE_URL: join(dir, "db.sqlite"), LATCHKEY_SECRETS_FILE: join(dir, "secrets.json") };
  const created = latchkey(
    env,
    "realm",
    "create",
    "--subdomain",
    "",
    "--name",
    "Example",
    "--owner-email",
    "boss@example.com",
    "--owner-name",
    "Boss",
    "--no-password",
  );
  assert.equal(created.code, 0, created.err);

  const on = latchkey(env, "realm", "login-methods", "", "--ldap", "on", "--ldap-auto-create", "on");
  assert.equal(on.code, 0, on.err);
  assert.equal(
    on.out,
    'Login methods for "": {"email":true,"ldap":true,"dev":true,"oidc":true}; LDAP account creation on; OpenID Connect account creation off\n',
  );
  const read = async () => {
    const database = await openDatabase(env.LATCHKEY_DATABASE_URL);
    try {
      return await createStores(database.db).realms.findBySubdomain("");
    } finally {
      await database.close();
    }
  };
  let realm = await read();
  assert.equal(realm?.ldapAutoCreate, true);
  assert.deepEqual(realm?.authMethods, { email: true, ldap: true, dev: true, oidc: true });

  // An option left out keeps its value; the existing options work as before.
  const emailOff = latchkey(env, "realm", "login-methods", "", "--email", "off");
  assert.equal(emailOff.code, 0, emailOff.err);
  realm = await read();
  assert.equal(realm?.ldapAutoCreate, true);
  assert.equal(realm?.authMethods.email, false);

  assert.equal(latchkey(env, "realm", "login-methods", "", "--ldap-auto-create", "off").code, 0);
  assert.equal((await read())?.ldapAutoCreate, false);

  const bad = latchkey(env, "realm", "login-methods", "", "--ldap-auto-create", "sometimes");
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /use on or off/);
});
