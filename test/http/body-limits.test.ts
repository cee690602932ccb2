/**
 * The login endpoints take a body of at most 64 KiB (a username and a 4096-byte password fit
 * many times over); other endpoints keep LATCHKEY_BODY_LIMIT. Beyond it: 413 in the envelope.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LOGIN_BODY_LIMIT } from "../../src/http/plugins/body-parsers.js";
import { basic, form, makeTestServer } from "../helper.js";

test("login endpoints refuse a body over 64 KiB with 413; the bots endpoint still takes it", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const big = "x".repeat(LOGIN_BODY_LIMIT + 1);
  for (const url of ["/api/v1/fetch_api_key", "/api/v1/dev_fetch_api_key"]) {
    const res = await server.app.inject({ method: "POST", url, ...form({ username: "iago@zulip.com", password: big }) });
    assert.equal(res.statusCode, 413, url);
    assert.deepEqual(res.json(), { result: "error", msg: "Request body too large", code: "REQUEST_TOO_LARGE" });
  }
  const fits = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "x".repeat(5000) }),
  });
  assert.equal(fits.statusCode, 401);
  const bots = await server.app.inject({
    method: "POST",
    url: "/api/v1/bots",
    headers: {
      authorization: basic("iago@zulip.com", server.keys.get(server.iago.id) as string),
      "content-type": "application/x-www-form-urlencoded",
    },
    payload: new URLSearchParams({ full_name: "Big", short_name: "big", padding: big }).toString(),
  });
  assert.equal(bots.statusCode, 200, bots.body);
});
