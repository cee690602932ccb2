/**
 * The OpenAPI document: served at /api/v1/openapi.json, identical to the committed
 * docs/openapi.json, valid OpenAPI 3.1, with Zulip's names; and the check the test helper runs on
 * every answer catches an answer the document does not describe.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { FastifyRequest } from "fastify";
import { basic, form, makeTestServer } from "../helper.js";
import { checkAnswer, mismatches, OPENAPI_PATH } from "../openapi-check.js";

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as parsed JSON, checked by the assertions themselves.
type Json = Record<string, any>;

const committed = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as Json;

test("GET /api/v1/openapi.json serves the committed docs/openapi.json (run `npm run openapi` after changing a route)", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await server.app.inject({ method: "GET", url: "/api/v1/openapi.json" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assert.deepEqual(res.json(), committed);
});

test("a production server's document leaves out the development-only logins", async (t) => {
  const server = await makeTestServer({ mode: "production" });
  t.after(() => server.close());
  const served = (await server.app.inject({ method: "GET", url: "/api/v1/openapi.json" })).json() as Json;
  assert.equal(served.paths["/api/v1/dev_fetch_api_key"], undefined);
  assert.deepEqual(
    Object.keys(served.paths).sort(),
    Object.keys(committed.paths)
      .filter((p) => !p.includes("/dev_"))
      .sort(),
  );
});

test("docs/openapi.json is a valid OpenAPI 3.1 document", async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(committed));
  assert.equal(validator.version, "3.1");
  assert.deepEqual(result.errors ?? [], []);
  assert.equal(result.valid, true);
});

test("the document uses Zulip's names: operation ids, the authentication tag, ApiKeyResponse, form bodies, Basic auth", () => {
  const fetchKey = committed.paths["/api/v1/fetch_api_key"].post;
  const devKey = committed.paths["/api/v1/dev_fetch_api_key"].post;
  assert.equal(fetchKey.operationId, "fetch-api-key");
  assert.equal(devKey.operationId, "dev-fetch-api-key");
  for (const operation of [fetchKey, devKey]) {
    assert.deepEqual(operation.tags, ["authentication"]);
    assert.deepEqual(operation.responses["200"].content["application/json"].schema, {
      $ref: "#/components/schemas/ApiKeyResponse",
    });
    assert.deepEqual(Object.keys(operation.requestBody.content), ["application/x-www-form-urlencoded"]);
  }
  assert.deepEqual(fetchKey.requestBody.content["application/x-www-form-urlencoded"].schema.required, ["username", "password"]);
  const apiKeyResponse = committed.components.schemas.ApiKeyResponse;
  assert.deepEqual(
    ["api_key", "email", "user_id"].map((name) => apiKeyResponse.properties[name].type),
    ["string", "string", "integer"],
  );
  assert.equal(committed.paths["/api/v1/server_settings"].get.operationId, "get-server-settings");
  assert.equal(committed.paths["/api/v1/users/me"].get.operationId, "get-own-user");
  assert.deepEqual(committed.components.securitySchemes.basicAuth, {
    type: "http",
    scheme: "basic",
    description: committed.components.securitySchemes.basicAuth.description,
  });
  assert.deepEqual(committed.paths["/api/v1/users/me"].get.security, [{ basicAuth: [] }]);
  // Every operation has a unique id or none, and every /api/v1 operation has one.
  const ids: string[] = [];
  for (const [path, operations] of Object.entries(committed.paths as Json)) {
    for (const operation of Object.values(operations as Json)) {
      if (path.startsWith("/api/v1/")) assert.ok(operation.operationId, `${path} has no operationId`);
      if (operation.operationId) ids.push(operation.operationId);
    }
  }
  assert.equal(new Set(ids).size, ids.length);
});

test("the document lists Zulip's error codes with the statuses the server sends them with", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_RATE_LIMIT_AUTH: "1800:1" } });
  t.after(() => server.close());
  const errorCodes = committed.components.schemas.JsonError.properties.code.enum as string[];
  const seen = new Map<string, number>();
  const login = async (fields: Record<string, string>) => {
    const res = await server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form(fields) });
    seen.set(res.json().code, res.statusCode);
  };
  await login({ username: "iago@zulip.com" });
  await login({ username: "iago", password: "x" });
  await login({ username: "iago@zulip.com", password: "wrong" });
  await login({ username: "iago@zulip.com", password: "wrong" });
  const me = await server.app.inject({
    method: "GET",
    url: "/api/v1/users/me",
    headers: { authorization: basic("iago@zulip.com", "x") },
  });
  seen.set(me.json().code, me.statusCode);
  assert.deepEqual(Object.fromEntries(seen), {
    REQUEST_VARIABLE_MISSING: 400,
    BAD_REQUEST: 400,
    AUTHENTICATION_FAILED: 401,
    RATE_LIMIT_HIT: 429,
    UNAUTHORIZED: 401,
  });
  for (const [code, status] of seen) {
    assert.ok(errorCodes.includes(code), `${code} is not in JsonError's codes`);
    const operation =
      code === "UNAUTHORIZED" ? committed.paths["/api/v1/users/me"].get : committed.paths["/api/v1/fetch_api_key"].post;
    const response = operation.responses[String(status)];
    assert.ok(response, `${status} is not documented`);
    const description = committed.components.responses?.[response.$ref?.split("/").pop()]?.description ?? response.description;
    assert.match(description, new RegExp(`\`${code}\``), `${status}'s description does not name ${code}`);
  }
  assert.equal(mismatches.length, 0, mismatches.join("\n"));
});

test("the answer check catches an undocumented status and a body off the schema", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  let request: FastifyRequest | undefined;
  server.app.addHook("onRequest", async (req) => {
    request = req;
  });
  const res = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "wrong" }),
  });
  assert.equal(res.statusCode, 401);
  const seen = request as FastifyRequest;
  const json = "application/json; charset=utf-8";
  assert.equal(checkAnswer(seen, 401, json, res.body), null);
  assert.match(checkAnswer(seen, 418, json, res.body) ?? "", /status 418 is not documented for POST \/api\/v1\/fetch_api_key/);
  const leaky = JSON.stringify({ result: "success", msg: "", api_key: "k", email: "iago@zulip.com", user_id: 1, password: "x" });
  assert.match(
    checkAnswer(seen, 200, json, leaky) ?? "",
    /does not match the documented schema: .*must NOT have additional properties/,
  );
  const noUserId = JSON.stringify({ result: "success", msg: "", api_key: "k", email: "iago@zulip.com" });
  assert.match(checkAnswer(seen, 200, json, noUserId) ?? "", /must have required property 'user_id'/);
  assert.match(checkAnswer(seen, 400, json, '{"result":"error","msg":"x","code":"NO_SUCH_CODE"}') ?? "", /code/);
  assert.match(checkAnswer(seen, 200, "text/html", "<p>") ?? "", /content type text\/html/);
});
