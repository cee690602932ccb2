/**
 * The bad-input suite against SQLite: over ten thousand hostile requests through app.inject(),
 * none of which may earn a 5xx, leave the JSON envelope, or change the database.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { basic, makeTestServer } from "../helper.js";
import { runs } from "../property.js";
import {
  ENDPOINTS,
  EVERY_METHOD,
  hostileRequest,
  oversizedPassword,
  oversizedRequest,
  sendAndCheck,
  snapshotDatabase,
} from "./bad-input-harness.js";

const BODY_LIMIT = 16 * 1024;

test("10,000 hostile requests to every endpoint: no 5xx, always the envelope, no database change", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_BODY_LIMIT: String(BODY_LIMIT) } });
  t.after(() => server.close());
  let snapshot = await snapshotDatabase(server.database);
  let sent = 0;
  const send = fc.asyncProperty.bind(fc);

  await fc.assert(
    send(hostileRequest(server), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: runs(8500) },
  );
  await fc.assert(
    send(oversizedRequest(server, BODY_LIMIT), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: runs(750) },
  );
  const workBefore = server.hasher.work;
  await fc.assert(
    send(oversizedPassword(BODY_LIMIT), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: runs(750) },
  );
  // Passwords over 4096 bytes were refused without being hashed.
  assert.equal(server.hasher.work, workBefore);
  assert.ok(sent >= 10_000, `only ${sent} requests sent`);
});

test("every method of every route: hostile bodies and credentials, and Zulip's 405 wherever a method is not served", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_BODY_LIMIT: String(BODY_LIMIT) } });
  t.after(() => server.close());
  let snapshot = await snapshotDatabase(server.database);
  const key = server.keys.get(server.iago.id) as string;
  const bodies: { contentType: string | null; payload?: string }[] = [
    { contentType: null },
    { contentType: "application/x-www-form-urlencoded", payload: "username=iago%40zulip.com&password=%00%ff&token=" },
    { contentType: "multipart/form-data; boundary=", payload: "--\r\n" },
  ];
  let sent = 0;
  for (const endpoint of ENDPOINTS) {
    for (const method of EVERY_METHOD) {
      for (const body of bodies) {
        for (const authorization of [null, basic("iago@zulip.com", key), "Basic !!!!"]) {
          const headers: Record<string, string> = { host: "testserver" };
          if (body.contentType !== null) headers["content-type"] = body.contentType;
          if (authorization !== null) headers.authorization = authorization;
          const request = {
            endpoint,
            method,
            url: endpoint.path,
            headers,
            ...(body.payload === undefined ? {} : { payload: Buffer.from(body.payload) }),
          };
          snapshot = await sendAndCheck(server, request, snapshot);
          sent++;
        }
      }
      // A method the endpoint does not serve: Zulip's 405, naming the ones it does.
      const api = /^\/(api|json)\//.test(endpoint.path);
      if (!api || endpoint.unknown || (endpoint.methods as string[]).includes(method)) continue;
      const res = await server.app.inject({ method: method as "GET", url: endpoint.path, headers: { host: "testserver" } });
      const where = `${method} ${endpoint.path}`;
      assert.equal(res.statusCode, 405, where);
      const served = endpoint.methods.filter((m) => m !== "HEAD");
      if (endpoint.plain405) {
        assert.equal(res.headers.allow, "GET, HEAD", where);
        assert.equal(res.body, "", where);
      } else {
        assert.equal(res.headers.allow, served.join(", "), where);
        if (method !== "HEAD")
          assert.deepEqual(res.json(), { result: "error", msg: "Method Not Allowed", allowed_methods: served }, where);
      }
    }
  }
  console.log(`# ${sent} requests over ${ENDPOINTS.length} routes and ${EVERY_METHOD.length} methods`);
});
