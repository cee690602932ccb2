/**
 * The real client: zulip-js 2.1.0 from npm against a server on a real port (docs/clients.md §1).
 * zulip-js resolves even when login fails, so the tests look at `config.apiKey` itself.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import zulipInit from "zulip-js";
import { createAccount, setAccountActive } from "../../src/domain/accounts.js";
import { PASSWORD } from "../helper.js";
import { assertFlutterFields } from "./client-shapes.js";
import { type RealServer, startRealServer } from "./real-server.js";

let server: RealServer;
before(async () => {
  server = await startRealServer();
});
describe("zulip-js", () => {
  after(() => server.close());

  const iagoKey = () => server.keys.get(server.iago.id) as string;

  test("password login sends multipart fetch_api_key and gets the user's 32-character key", async () => {
    const z = await zulipInit({ username: "iago@zulip.com", password: PASSWORD, realm: server.url });
    assert.equal(z.config.apiURL, `${server.url}/api/v1`);
    assert.match(z.config.apiKey, /^[A-Za-z0-9]{32}$/);
    assert.equal(z.config.apiKey, iagoKey());

    const profile = await z.users.me.getProfile();
    assert.equal(profile.result, "success");
    assert.equal(profile.msg, "");
    assert.equal(profile.email, "iago@zulip.com");
    assert.equal(profile.user_id, server.iago.id);
    assert.equal(profile.full_name, "Iago");
    assert.equal(profile.is_admin, true);
  });

  test("server.settings() with the Basic header attached answers the full settings", async () => {
    const z = await zulipInit({ username: "iago@zulip.com", password: PASSWORD, realm: server.url });
    const settings = await z.server.settings();
    assert.equal(settings.result, "success");
    assert.ok((settings.zulip_feature_level as number) >= 277);
    assert.equal(settings.realm_uri, server.url);
    assertFlutterFields(settings);
    // Even with a key that is not the user's.
    const wrong = await zulipInit({ username: "iago@zulip.com", apiKey: "a".repeat(32), realm: server.url });
    assert.equal((await wrong.server.settings()).result, "success");
  });

  test("a realm given with the /api suffix works the same", async () => {
    const z = await zulipInit({ username: "hamlet@zulip.com", password: PASSWORD, realm: `${server.url}/api` });
    assert.equal(z.config.apiURL, `${server.url}/api/v1`);
    assert.equal(z.config.apiKey, server.keys.get(server.hamlet.id));
    assert.equal((await z.users.me.getProfile()).user_id, server.hamlet.id);
  });

  test("a realm written with a trailing slash: zulip-js asks for //api/v1/..., which the server accepts", async () => {
    const z = await zulipInit({ username: "iago@zulip.com", password: PASSWORD, realm: `${server.url}/` });
    assert.equal(z.config.apiURL, `${server.url}//api/v1`);
    assert.equal(z.config.apiKey, iagoKey());
    assert.equal((await z.users.me.getProfile()).user_id, server.iago.id);
  });

  test("an existing key without a password: getProfile and callEndpoint", async () => {
    const z = await zulipInit({ username: "iago@zulip.com", apiKey: iagoKey(), realm: server.url });
    assert.equal((await z.users.me.getProfile()).result, "success");
    const called = await z.callEndpoint("/users/me", "GET");
    assert.equal(called.result, "success");
    assert.equal(called.user_id, server.iago.id);
    // zulip-js sends GET parameters in the query string; unknown ones are reported.
    const withParams = await z.callEndpoint("/users/me", "GET", { foo: "bar" });
    assert.deepEqual(withParams.ignored_parameters_unsupported, ["foo"]);
  });

  test("a zuliprc file", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-zuliprc-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "zuliprc");
    writeFileSync(file, `[api]\nemail=iago@zulip.com\nkey=${iagoKey()}\nsite=${server.url}\n`, { mode: 0o600 });
    const z = await zulipInit({ zuliprc: file });
    const profile = await z.users.me.getProfile();
    assert.equal(profile.result, "success");
    assert.equal(profile.user_id, server.iago.id);
  });

  test("a wrong password leaves apiKey undefined; accounts.retrieve() shows AUTHENTICATION_FAILED", async () => {
    const z = await zulipInit({ username: "iago@zulip.com", password: "wrong", realm: server.url });
    assert.equal(z.config.apiKey, undefined);
    const res = await z.accounts.retrieve();
    assert.deepEqual(res, { result: "error", msg: "Your username or password is incorrect", code: "AUTHENTICATION_FAILED" });
    // Every later call sends "email:undefined", which is a malformed key.
    assert.deepEqual(await z.users.me.getProfile(), { result: "error", msg: "Malformed API key", code: "UNAUTHORIZED" });
  });

  test("a wrong key, another user's key, and the email in another case", async () => {
    const wrong = await zulipInit({ username: "iago@zulip.com", apiKey: "a".repeat(32), realm: server.url });
    assert.deepEqual(await wrong.users.me.getProfile(), { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" });
    const other = await zulipInit({
      username: "iago@zulip.com",
      apiKey: server.keys.get(server.hamlet.id) as string,
      realm: server.url,
    });
    assert.deepEqual(await other.users.me.getProfile(), { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" });
    const upper = await zulipInit({ username: "IAGO@zulip.com", apiKey: iagoKey(), realm: server.url });
    const profile = await upper.users.me.getProfile();
    assert.equal(profile.result, "success");
    assert.equal(profile.email, "iago@zulip.com");
  });

  test("a deactivated user cannot log in: USER_DEACTIVATED", async () => {
    const { user } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "othello@zulip.com",
      fullName: "Othello",
      password: PASSWORD,
    });
    await setAccountActive(server.ctx, user.id, false);
    const z = await zulipInit({ username: "othello@zulip.com", password: PASSWORD, realm: server.url });
    assert.equal(z.config.apiKey, undefined);
    assert.deepEqual(await z.accounts.retrieve(), { result: "error", msg: "Account is deactivated", code: "USER_DEACTIVATED" });
  });
});
