/**
 * Several Latchkeys (or other applications) can share one PostgreSQL database, each in a schema of
 * its own: opening and migrating one must not fail because another schema is dropped at the same
 * moment (the migrator's first look at the catalog names every schema; a vanished one is retried).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import pg from "pg";
import { openDatabase } from "../../src/store/database.js";
import { freshPostgresUrl } from "../helper.js";

describe("schema churn", { timeout: 300_000 }, async () => {
  const probe = await freshPostgresUrl();
  if (probe === null) return;
  await probe.drop();
  const base = probe.url.replace(/[?&]schema=[^&]+/, "");

  test("databases open while other schemas of the same database are created and dropped", async () => {
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    let churning = true;
    let churned = 0;
    const churn = (async () => {
      while (churning) {
        const name = `lk_churn_${randomBytes(5).toString("hex")}`;
        await admin.query(`CREATE SCHEMA ${name}`);
        await admin.query(`CREATE TABLE ${name}.t (id serial primary key, v text)`);
        await admin.query(`DROP SCHEMA ${name} CASCADE`);
        churned++;
      }
    })();
    const opened: string[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const fresh = await freshPostgresUrl();
        assert.ok(fresh);
        const handle = await openDatabase(fresh.url);
        assert.equal((await handle.db.selectFrom("realms").select("id").execute()).length, 0);
        await handle.close();
        await fresh.drop();
        opened.push(fresh.url);
      }
    } finally {
      churning = false;
      await churn;
      await admin.end();
    }
    assert.equal(opened.length, 8);
    assert.ok(churned > 0, "other schemas came and went meanwhile");
  });
});
