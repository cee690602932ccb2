/**
 * The bad-input suite, smaller, against PostgreSQL: NUL bytes and invalid UTF-8 are where
 * PostgreSQL refuses what SQLite stores, and such a refusal must never become a 500.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { freshPostgresUrl, makeTestServer } from "../helper.js";
import { runs } from "../property.js";
import { hostileRequest, oversizedPassword, oversizedRequest, sendAndCheck, snapshotDatabase } from "./bad-input-harness.js";

const BODY_LIMIT = 16 * 1024;
const postgres = await freshPostgresUrl();
if (postgres !== null) {
  const other = await freshPostgresUrl();
  describe("bad-input-postgres", () => {
    after(async () => {
      await postgres.drop();
      await other?.drop();
    });

    test("1,000 hostile requests against PostgreSQL: no 5xx, always the envelope, no database change", async (t) => {
      const server = await makeTestServer({ databaseUrl: postgres.url, env: { LATCHKEY_BODY_LIMIT: String(BODY_LIMIT) } });
      t.after(() => server.close());
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

    test("NUL bytes and invalid UTF-8 in every place a value reaches a PostgreSQL query", async (t) => {
      const server = await makeTestServer({ databaseUrl: (other ?? postgres).url });
      t.after(() => server.close());
      // Hosts become subdomains, which are looked up: NUL cannot reach the HTTP layer from a real
      // socket, but nothing below it may assume so.
      for (const host of ["%00.testserver", "a%ffb.testserver", "\u00ff\u00fe.testserver", "nul\u0000.testserver", "\u0000"]) {
        for (const url of ["/api/v1/fetch_api_key", "/api/v1/dev_fetch_api_key", "/api/v1/server_settings"]) {
          const res = await server.app.inject({
            method: url.endsWith("server_settings") ? "GET" : "POST",
            url,
            headers: { host, "content-type": "application/x-www-form-urlencoded" },
            payload: "username=iago%40zulip.com&password=x",
          });
          assert.ok(res.statusCode < 500, `${JSON.stringify(host)} ${url}: ${res.statusCode} ${res.body}`);
        }
      }
      for (const value of ["\u0000", "a\u0000b", "\ud800", "\u0000@zulip.com", "iago@zulip.com\u0000"]) {
        for (const url of ["/api/v1/fetch_api_key", "/api/v1/dev_fetch_api_key"]) {
          const res = await server.app.inject({
            method: "POST",
            url,
            headers: { "content-type": "application/x-www-form-urlencoded" },
            payload: Buffer.concat([Buffer.from("username="), Buffer.from(value, "utf8"), Buffer.from("&password=x")]),
          });
          assert.ok(res.statusCode < 500, `${url} ${JSON.stringify(value)}: ${res.statusCode} ${res.body}`);
        }
      }
      // Raw invalid UTF-8 bytes, percent-encoded and not.
      for (const payload of [
        Buffer.from([0x75, 0x73, 0x65, 0x72, 0x6e, 0x61, 0x6d, 0x65, 0x3d, 0xff, 0x00]),
        Buffer.from("username=%ff%00%c0%80"),
      ]) {
        const res = await server.app.inject({
          method: "POST",
          url: "/api/v1/dev_fetch_api_key",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          payload,
        });
        assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
      }
    });
  });
}
