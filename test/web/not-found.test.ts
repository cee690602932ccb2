/** A missing page: a page for a browser, the JSON 404 for API clients and API paths. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { json, makeTestServer } from "../helper.js";

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

test("a browser opening a page that does not exist gets a page saying so, with the web app's headers", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const url of ["/settings/nonexistent", "/nope", "/login/extra?x=1"]) {
    const res = await server.app.inject({ method: "GET", url, headers: { host: "testserver", accept: BROWSER_ACCEPT } });
    assert.equal(res.statusCode, 404, url);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    assert.match(res.body, /<h1>Page not found<\/h1>/);
    assert.match(res.body, /<a href="\/login\/">Go to the login page<\/a>/);
    assert.match(String(res.headers["content-security-policy"]), /script-src 'self'/);
    assert.equal(res.headers["x-frame-options"], "DENY");
    assert.ok(res.headers["x-request-id"]);
  }
});

test("API clients and /api, /json paths keep the JSON 404", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const notFound = { result: "error", msg: "Not Found", code: "BAD_REQUEST" };
  for (const [url, accept] of [
    ["/nope", undefined],
    ["/nope", "application/json"],
    ["/nope", "*/*"],
    ["/api/v1/nope", BROWSER_ACCEPT],
    ["/json/nope", BROWSER_ACCEPT],
    ["/API/v1/nope", BROWSER_ACCEPT],
  ] as const) {
    const res = await server.app.inject({
      method: "GET",
      url,
      headers: { host: "testserver", ...(accept === undefined ? {} : { accept }) },
    });
    assert.equal(res.statusCode, 404, `${url} ${accept}`);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    assert.deepEqual(json(res), notFound);
    assert.equal(res.headers["content-security-policy"], undefined);
  }
});
