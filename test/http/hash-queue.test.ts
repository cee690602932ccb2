/**
 * Password hashing runs off the event loop with bounded concurrency: while a storm of slow
 * logins waits for the hasher, requests that only check an API key are answered at once.
 * Checked by order of completion, not by time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Argon2Hasher } from "../../src/auth/password-hasher.js";
import { OWASP_ARGON2_FLOOR } from "../../src/config.js";
import { basic, form, makeTestServer } from "../helper.js";

test("users/me answers while twenty logins are still queued for the hasher", async (t) => {
  // Production-grade cost, one hash at a time: the logins take a while to drain.
  const argon2 = new Argon2Hasher(OWASP_ARGON2_FLOOR, 1);
  const server = await makeTestServer({ hasher: argon2 });
  t.after(() => server.close());
  // The dummy hash is made once, on first use; make it now so the storm is all verifications.
  await argon2.verifyDummy("warm-up");
  const finished: string[] = [];
  const logins = Array.from({ length: 20 }, (_, i) =>
    server.app
      .inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: `storm${i}@zulip.com`, password: "guess" }) })
      .then((res) => {
        finished.push("login");
        return res;
      }),
  );
  // Let every login reach the hasher.
  for (let i = 0; i < 10_000 && server.hasher.work < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(server.hasher.work, 20);
  assert.ok(argon2.pending > 1, "the logins are waiting their turn");

  const key = server.keys.get(server.hamlet.id) as string;
  for (let i = 0; i < 5; i++) {
    const res = await server.app.inject({
      method: "GET",
      url: "/api/v1/users/me",
      headers: { authorization: basic("hamlet@zulip.com", key) },
    });
    finished.push("users/me");
    assert.equal(res.statusCode, 200);
  }
  // Every key check finished while logins were still waiting for the hasher.
  assert.ok(argon2.pending > 0, "the hasher queue drained before the key checks finished");
  assert.ok(finished.filter((f) => f === "login").length < 20);

  for (const res of await Promise.all(logins)) assert.equal(res.statusCode, 401);
  assert.equal(finished.lastIndexOf("users/me") < finished.length - 1, true);
  assert.equal(server.hasher.work, 20);
});
