/** Migration 0004_web: web sessions and one-time tokens. Only adds tables. */
import type { Kysely, Migration } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations run against a schema that is still being built.
type AnyDb = Kysely<any>;

export const webMigration: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable("web_sessions")
      .addColumn("id_hash", "varchar(64)", (c) => c.primaryKey())
      .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("web_sessions_user_id").on("web_sessions").column("user_id").execute();
    await db.schema
      .createTable("one_time_tokens")
      .addColumn("token_hash", "varchar(64)", (c) => c.primaryKey())
      .addColumn("kind", "varchar(32)", (c) => c.notNull())
      .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("one_time_tokens_user_id").on("one_time_tokens").column("user_id").execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable("one_time_tokens").execute();
    await db.schema.dropTable("web_sessions").execute();
  },
};
