/**
 * The bad-input suite against SQLite: over ten thousand hostile requests through app.inject(),
 * none of which may earn a 5xx, leave the JSON envelope, or change the database.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { makeTestServer } from "../helper.js";
import { hostileRequest, oversizedPassword, oversizedRequest, sendAndCheck, snapshotDatabase } from "./bad-input-harness.js";

const BODY_LIMIT = 16 * 1024;

test("10,000 hostile requests to every endpoint: no 5xx, always the envelope, no database change", async (t) => {
  const server = await makeTestServer({
    env: {
      LATCHKEY_BODY_LIMIT: String(BODY_LIMIT),
      // JWT login on, so hostile tokens reach the verifier.
      LATCHKEY_JWT_AUTH_KEYS: JSON.stringify({ "": { key: "k".repeat(32), algorithms: ["HS256"] } }),
    },
  });
  t.after(() => server.close());
  let snapshot = await snapshotDatabase(server.database);
  let sent = 0;
  const send = fc.asyncProperty.bind(fc);

  await fc.assert(
    send(hostileRequest(server), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: 8500 },
  );
  await fc.assert(
    send(oversizedRequest(server, BODY_LIMIT), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: 750 },
  );
  const workBefore = server.hasher.work;
  await fc.assert(
    send(oversizedPassword(BODY_LIMIT), async (request) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    }),
    { numRuns: 750 },
  );
  // Passwords over 4096 bytes were refused without being hashed.
  assert.equal(server.hasher.work, workBefore);
  assert.ok(sent >= 10_000, `only ${sent} requests sent`);
});
