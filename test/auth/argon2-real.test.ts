/**
 * Zulip's production password hashing end to end (docs/zulip-rules.md §4.2): Argon2id with Django's defaults
 * (m=102400 KiB, t=2, p=8), and hashes imported from a Zulip server (Django's `argon2$...` and
 * `pbkdf2_sha256$...`) accepted and upgraded to the current parameters on the next login.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { hash as argon2Hash } from "@node-rs/argon2";
import { Argon2Hasher, makeDjangoPbkdf2 } from "../../src/auth/password-hasher.js";
import { loadConfig, ZULIP_ARGON2 } from "../../src/config.js";
import { createAccount } from "../../src/domain/accounts.js";
import { FAST_ARGON2, form, json, makeTestServer, type TestServer } from "../helper.js";

const hasher = new Argon2Hasher(ZULIP_ARGON2, 2);
describe("argon2-real", () => {
  after(() => hasher.close());

  const CURRENT = /^\$argon2id\$v=19\$m=102400,t=2,p=8\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

  function login(server: TestServer, username: string, password: string) {
    return server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username, password }) });
  }

  async function storedHash(server: TestServer, userId: number): Promise<string | null> {
    return (await server.ctx.stores.users.findById(userId))?.passwordHash ?? null;
  }

  test("the default parameters are Zulip's: Argon2id m=102400 t=2 p=8", () => {
    assert.deepEqual(ZULIP_ARGON2, { memoryCost: 102400, timeCost: 2, parallelism: 8 });
    assert.deepEqual(loadConfig("production", {}).argon2, ZULIP_ARGON2);
  });

  test("a user created with the real hasher logs in; a wrong password does not", async (t) => {
    const server = await makeTestServer({ hasher });
    t.after(() => server.close());
    const password = "Real-Argon2id-Passw0rd";
    const { user, apiKey } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "othello@zulip.com",
      fullName: "Othello",
      password,
    });
    assert.match((await storedHash(server, user.id)) as string, CURRENT);

    const ok = await login(server, "othello@zulip.com", password);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(json(ok).api_key, apiKey);
    const wrong = await login(server, "othello@zulip.com", `${password}x`);
    assert.equal(wrong.statusCode, 401);
    assert.deepEqual(json(wrong), {
      result: "error",
      msg: "Your username or password is incorrect",
      code: "AUTHENTICATION_FAILED",
    });
    // A current hash is not rewritten on login.
    const before = await storedHash(server, user.id);
    assert.equal((await login(server, "othello@zulip.com", password)).statusCode, 200);
    assert.equal(await storedHash(server, user.id), before);
  });

  /** Django's PBKDF2PasswordHasher (Django 5.1: 870,000 iterations), computed with Python's hashlib. */
  const DJANGO_PBKDF2 = {
    password: "Imported-Passw0rd!",
    hash: "pbkdf2_sha256$870000$Zf3kQ9xLm2Ws$FhB3wOAhug7ALkXItLuAOL9z6gNzYqcYYNvjeMJy8uM=",
  };

  test("imported Django hashes (argon2$ and pbkdf2_sha256$) log in and are upgraded to Argon2id on success", async (t) => {
    const server = await makeTestServer({ hasher });
    t.after(() => server.close());
    const password = "Imported-Passw0rd!";
    // What Django's Argon2PasswordHasher stores: "argon2" + argon2-cffi's PHC string.
    const phc = await argon2Hash(password, {
      algorithm: 2,
      memoryCost: 102400,
      timeCost: 2,
      parallelism: 8,
      outputLen: 32,
      salt: Buffer.from("dGhpc2lzYXNhbHQ1Njc4OQ"),
    });
    const fromArgon2 = `argon2${phc}`;
    assert.match(fromArgon2, /^argon2\$argon2id\$v=19\$m=102400,t=2,p=8\$/);
    // An Argon2id hash with older, cheaper parameters (a former configuration of this server).
    const cheapHasher = new Argon2Hasher(FAST_ARGON2, 1);
    const cheap = await cheapHasher.hash(password);
    await cheapHasher.close();

    for (const [email, stored] of [
      ["argon2@zulip.com", fromArgon2],
      ["pbkdf2@zulip.com", DJANGO_PBKDF2.hash],
      ["cheap@zulip.com", cheap],
    ] as const) {
      const { user } = await createAccount(server.ctx, { realmId: server.realm.id, email, fullName: email, password: null });
      await server.ctx.stores.users.update(user.id, { passwordHash: stored });

      // A wrong password neither logs in nor touches the stored hash.
      assert.equal((await login(server, email, "Not-The-Passw0rd!")).statusCode, 401);
      assert.equal(await storedHash(server, user.id), stored);

      const ok = await login(server, email, DJANGO_PBKDF2.password);
      assert.equal(ok.statusCode, 200, `${email}: ${ok.body}`);
      assert.equal(json(ok).user_id, user.id);
      const upgraded = (await storedHash(server, user.id)) as string;
      assert.match(upgraded, CURRENT, email);
      // The upgraded hash keeps working, and the old format is gone.
      assert.equal((await login(server, email, DJANGO_PBKDF2.password)).statusCode, 200);
      assert.equal((await login(server, email, "Not-The-Passw0rd!")).statusCode, 401);
      assert.equal(await storedHash(server, user.id), upgraded);
    }
  });

  test("a weak imported password is not carried forward: PASSWORD_RESET_REQUIRED, hash left alone", async (t) => {
    const server = await makeTestServer({ hasher });
    t.after(() => server.close());
    const stored = await makeDjangoPbkdf2("password", "somesalt", 1000);
    const { user } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "weak@zulip.com",
      fullName: "Weak",
      password: null,
    });
    await server.ctx.stores.users.update(user.id, { passwordHash: stored });
    const res = await login(server, "weak@zulip.com", "password");
    assert.equal(res.statusCode, 401);
    assert.deepEqual(json(res), {
      result: "error",
      msg: "Your password has been disabled and needs to be reset",
      code: "PASSWORD_RESET_REQUIRED",
    });
    assert.equal(await storedHash(server, user.id), stored);
  });
});
