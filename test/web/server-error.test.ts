/** An unexpected failure behind a page: an HTML page with the request id, never a raw JSON body. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { basic, makeTestServer } from "../helper.js";

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

test("with the database gone, a page says something went wrong and quotes the request id; the API keeps its JSON 500", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.app.close());
  // Warm nothing: every answer below must reach the (closed) database.
  await server.database.close();

  const page = await server.app.inject({
    method: "GET",
    url: "/login/",
    headers: { host: "testserver", accept: BROWSER_ACCEPT },
  });
  assert.equal(page.statusCode, 500);
  assert.match(String(page.headers["content-type"]), /^text\/html/);
  assert.match(page.body, /<h1>Something went wrong<\/h1>/);
  const id = page.headers["x-request-id"] as string;
  assert.ok(id);
  assert.ok(page.body.includes(`quote request ${id}`), page.body);
  assert.match(String(page.headers["content-security-policy"]), /script-src 'self'/);

  const api = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { host: "testserver", authorization: basic("iago@zulip.com", "a".repeat(32)) },
  });
  assert.equal(api.statusCode, 500);
  assert.deepEqual(api.json(), { result: "error", msg: "Internal server error", request_id: api.headers["x-request-id"] });
});
