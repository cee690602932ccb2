/**
 * The fixture holds every field the importer reads, taken from the importer's own field lists
 * (so the two cannot drift apart), and the importer's check names each of them when it is gone.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  parseZulipExport,
  REALM_FIELDS,
  SERVICE_FIELDS,
  USER_FIELDS,
  ZulipExportError,
} from "../../src/import/zulip-export-format.js";
import { readFixture } from "./zulip-export-helper.js";

describe("Zulip export fields", () => {
  test("every row of the fixture has every field the importer reads, and the fixture passes the importer's check", () => {
    const data = readFixture();
    const missing: string[] = [];
    for (const [table, fields] of [
      ["zerver_realm", REALM_FIELDS],
      ["zerver_userprofile", USER_FIELDS],
      ["zerver_service", SERVICE_FIELDS],
    ] as const) {
      (data[table] as Record<string, unknown>[]).forEach((row, i) => {
        for (const field of fields) if (!Object.hasOwn(row, field.name)) missing.push(`${table}[${i}].${field.name}`);
      });
    }
    assert.deepEqual(missing, []);
    const parsed = parseZulipExport(JSON.stringify(data));
    assert.equal(parsed.realm.string_id, "elsinore");
    assert.equal(parsed.users.length, 9);
    assert.equal(parsed.services.size, 1);
  });

  test("the fixture covers what the importer tells apart: every role, bots with owners, a deactivated account, both hash formats, rows with and without keys", () => {
    const users = readFixture().zerver_userprofile;
    assert.deepEqual([...new Set(users.filter((u) => !u.is_bot).map((u) => u.role))].sort(), [100, 200, 300, 400, 600]);
    assert.ok(users.some((u) => u.is_bot && u.bot_owner !== null && u.api_key !== null));
    assert.ok(users.some((u) => u.is_bot && u.api_key === null));
    assert.ok(users.some((u) => u.is_active === false));
    assert.ok(users.some((u) => String(u.password).startsWith("argon2$argon2id$")));
    assert.ok(users.some((u) => String(u.password).startsWith("pbkdf2_sha256$")));
    assert.ok(users.some((u) => String(u.password).startsWith("!")));
    assert.deepEqual([...new Set(users.filter((u) => u.is_bot).map((u) => u.bot_type))].sort(), [1, 2, 3]);
  });

  test("each required field, taken away from the fixture, is named in the error", () => {
    for (const [table, fields] of [
      ["zerver_realm", REALM_FIELDS],
      ["zerver_userprofile", USER_FIELDS],
      ["zerver_service", SERVICE_FIELDS],
    ] as const) {
      for (const field of fields.filter((f) => !f.optional)) {
        const data = readFixture();
        const row = (data[table] as Record<string, unknown>[])[0] as Record<string, unknown>;
        delete row[field.name];
        assert.throws(
          () => parseZulipExport(JSON.stringify(data)),
          (err: unknown) => err instanceof ZulipExportError && err.message === `realm.json: ${table}[0].${field.name}: missing`,
          `${table}.${field.name}`,
        );
      }
    }
  });

  test("password and api_key may be absent (Zulip's exporter leaves them out) but not of the wrong type", () => {
    const data = readFixture();
    const row = data.zerver_userprofile[0] as Record<string, unknown>;
    delete row.password;
    delete row.api_key;
    assert.equal(parseZulipExport(JSON.stringify(data)).users[0]?.password, undefined);
    row.password = 42;
    assert.throws(() => parseZulipExport(JSON.stringify(data)), {
      message: "realm.json: zerver_userprofile[0].password: must be a string, not a number",
    });
  });
});
