/**
 * The bad-input suite with LDAP on for the organization: hostile usernames and passwords reach
 * a real directory, and still every answer is a 4xx in the envelope with no database change.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { setRealmAuthMethods } from "../../src/domain/accounts.js";
import { makeTestServer } from "../helper.js";
import {
  hostileRequest,
  oversizedPassword,
  oversizedRequest,
  sendAndCheck,
  snapshotDatabase,
} from "../http/bad-input-harness.js";
import { runs } from "../property.js";
import { emailAttrEnv } from "./ldap-helper.js";
import { type Slapd, STAFF_GROUP, startSlapd } from "./slapd.js";

const BODY_LIMIT = 16 * 1024;
let slapd: Slapd | null = null;
before(async () => {
  slapd = await startSlapd();
});
describe("ldap-bad-input", () => {
  after(async () => {
    await slapd?.close();
  });

  test("1,000 hostile requests with email and LDAP login on: no 5xx, always the envelope, no database change", async (t) => {
    if (slapd === null) return;
    const server = await makeTestServer({
      env: { ...emailAttrEnv(slapd, { LATCHKEY_LDAP_REQUIRE_GROUP: STAFF_GROUP }), LATCHKEY_BODY_LIMIT: String(BODY_LIMIT) },
    });
    t.after(() => server.close());
    await setRealmAuthMethods(server.ctx, server.realm.id, { email: true, ldap: true });
    let snapshot = await snapshotDatabase(server.database);
    let sent = 0;
    const check = async (request: Parameters<typeof sendAndCheck>[1]) => {
      snapshot = await sendAndCheck(server, request, snapshot);
      sent++;
    };
    await fc.assert(fc.asyncProperty(hostileRequest(server), check), { numRuns: runs(800) });
    await fc.assert(fc.asyncProperty(oversizedRequest(server, BODY_LIMIT), check), { numRuns: runs(100) });
    await fc.assert(fc.asyncProperty(oversizedPassword(BODY_LIMIT), check), { numRuns: runs(100) });
    assert.equal(sent, 1000);
  });
});
