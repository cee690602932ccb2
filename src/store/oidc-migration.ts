/**
 * Migration 0007_oidc: OpenID Connect login. Each organization switches it on or off (on by
 * default, as Zulip enables every configured backend for a new organization) and chooses whether
 * people an identity provider vouches for get an account (off by default); logins in flight
 * between the redirect to the provider and its answer get a table of their own. Only adds.
 */
import type { Kysely, Migration } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations run against a schema that is still being built.
type AnyDb = Kysely<any>;

export const oidcMigration: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .alterTable("realms")
      .addColumn("oidc_auth_enabled", "integer", (c) => c.notNull().defaultTo(1))
      .execute();
    await db.schema
      .alterTable("realms")
      .addColumn("oidc_auto_create", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable("oidc_logins")
      .addColumn("state_hash", "varchar(64)", (c) => c.primaryKey())
      .addColumn("sealed", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("oidc_logins_expires_at").on("oidc_logins").column("expires_at").execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable("oidc_logins").execute();
    await db.schema.alterTable("realms").dropColumn("oidc_auto_create").execute();
    await db.schema.alterTable("realms").dropColumn("oidc_auth_enabled").execute();
  },
};
