/**
 * One set of migrations for SQLite and PostgreSQL, kept in code so the compiled server and
 * the TypeScript sources run the same list.
 */
import {
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresAdapter,
} from "kysely";
import { oidcMigration } from "./oidc-migration.js";
import { webMigration } from "./web-migration.js";

// biome-ignore lint/suspicious/noExplicitAny: migrations run against a schema that is still being built.
type AnyDb = Kysely<any>;

function isPostgres(db: AnyDb): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** An auto-incrementing integer primary key in either dialect. */
function withId<T extends string>(db: AnyDb, table: CreateTableBuilder<T, never>): CreateTableBuilder<T, "id"> {
  return isPostgres(db)
    ? table.addColumn("id", "serial", (c) => c.primaryKey())
    : table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());
}

const flag =
  (value: 0 | 1) =>
  (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    c.notNull().defaultTo(value);

const core: Migration = {
  async up(db) {
    await withId(db, db.schema.createTable("realms"))
      .addColumn("string_id", "varchar(64)", (c) => c.notNull().unique())
      .addColumn("name", "varchar(100)", (c) => c.notNull())
      .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
      .addColumn("deactivated", "integer", flag(0))
      .addColumn("email_auth_enabled", "integer", flag(1))
      .addColumn("ldap_auth_enabled", "integer", flag(0))
      .addColumn("dev_auth_enabled", "integer", flag(1))
      .addColumn("date_created", "bigint", (c) => c.notNull())
      .execute();

    await withId(db, db.schema.createTable("users"))
      .addColumn("realm_id", "integer", (c) => c.notNull().references("realms.id").onDelete("cascade"))
      .addColumn("email", "varchar(254)", (c) => c.notNull())
      .addColumn("delivery_email", "varchar(254)", (c) => c.notNull())
      .addColumn("delivery_email_key", "varchar(254)", (c) => c.notNull())
      .addColumn("full_name", "varchar(100)", (c) => c.notNull())
      .addColumn("role", "integer", (c) => c.notNull().defaultTo(400))
      .addColumn("is_active", "integer", flag(1))
      .addColumn("is_bot", "integer", flag(0))
      .addColumn("bot_type", "integer")
      .addColumn("bot_owner_id", "integer", (c) => c.references("users.id").onDelete("set null"))
      .addColumn("password_hash", "text")
      .addColumn("api_key_digest", "varchar(64)", (c) => c.notNull().unique())
      .addColumn("api_key_sealed", "text", (c) => c.notNull())
      .addColumn("date_joined", "bigint", (c) => c.notNull())
      .addColumn("timezone", "varchar(40)", (c) => c.notNull().defaultTo(""))
      .addColumn("enable_login_emails", "integer", flag(1))
      .addColumn("twenty_four_hour_time", "integer", flag(0))
      .addColumn("avatar_version", "integer", flag(1))
      .addUniqueConstraint("users_realm_delivery_email_key", ["realm_id", "delivery_email_key"])
      .execute();
    await db.schema.createIndex("users_delivery_email_key").on("users").column("delivery_email_key").execute();
    await db.schema.createIndex("users_bot_owner_id").on("users").column("bot_owner_id").execute();
  },
  async down(db) {
    await db.schema.dropTable("users").execute();
    await db.schema.dropTable("realms").execute();
  },
};

/** Organizations choose whether directory users get an account on their first LDAP login. */
const ldap: Migration = {
  async up(db) {
    await db.schema.alterTable("realms").addColumn("ldap_auto_create", "integer", flag(0)).execute();
  },
  async down(db) {
    await db.schema.alterTable("realms").dropColumn("ldap_auto_create").execute();
  },
};

const keyLifecycle: Migration = {
  async up(db) {
    await withId(db, db.schema.createTable("push_device_tokens"))
      .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
      .addColumn("kind", "integer", (c) => c.notNull())
      .addColumn("token", "varchar(4096)", (c) => c.notNull())
      .addColumn("ios_app_id", "varchar(255)")
      .addColumn("date_created", "bigint", (c) => c.notNull())
      .addUniqueConstraint("push_device_tokens_user_kind_token", ["user_id", "kind", "token"])
      .execute();

    await withId(db, db.schema.createTable("audit_log"))
      .addColumn("realm_id", "integer", (c) => c.notNull().references("realms.id").onDelete("cascade"))
      .addColumn("acting_user_id", "integer", (c) => c.references("users.id").onDelete("set null"))
      .addColumn("modified_user_id", "integer", (c) => c.references("users.id").onDelete("set null"))
      .addColumn("event_type", "integer", (c) => c.notNull())
      .addColumn("event_time", "bigint", (c) => c.notNull())
      .addColumn("ip", "varchar(64)")
      .addColumn("client", "varchar(255)")
      .addColumn("extra_data", "text", (c) => c.notNull().defaultTo("{}"))
      .execute();
    await db.schema.createIndex("audit_log_realm_time").on("audit_log").columns(["realm_id", "event_time"]).execute();
    await db.schema.createIndex("audit_log_modified_user").on("audit_log").column("modified_user_id").execute();

    await db.schema
      .createTable("api_key_last_use")
      .addColumn("key_digest", "varchar(64)", (c) => c.primaryKey())
      .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
      .addColumn("used_at", "bigint", (c) => c.notNull())
      .addColumn("ip", "varchar(64)", (c) => c.notNull())
      .addColumn("client", "varchar(255)", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("api_key_last_use_user").on("api_key_last_use").column("user_id").execute();

    await withId(db, db.schema.createTable("bot_services"))
      .addColumn("bot_user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
      .addColumn("base_url", "text", (c) => c.notNull())
      .addColumn("interface", "integer", (c) => c.notNull().defaultTo(1))
      .addColumn("token_digest", "varchar(64)", (c) => c.notNull())
      .addColumn("token_sealed", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("bot_services_bot").on("bot_services").column("bot_user_id").execute();

    await db.schema.alterTable("users").addColumn("default_all_public_streams", "integer", flag(0)).execute();
  },
  async down(db) {
    await db.schema.alterTable("users").dropColumn("default_all_public_streams").execute();
    await db.schema.dropTable("bot_services").execute();
    await db.schema.dropTable("api_key_last_use").execute();
    await db.schema.dropTable("audit_log").execute();
    await db.schema.dropTable("push_device_tokens").execute();
  },
};

/**
 * Every migration. Names sort in the order they run on a fresh database; a database that
 * already ran later ones still gets an earlier one it lacks (each migration only adds). A
 * released migration never changes: databases made by every earlier version must upgrade
 * (test/store/upgrade.test.ts starts from the schema 0.1.0 made).
 */
export const MIGRATIONS: Record<string, Migration> = {
  "0001_core": core,
  "0002_key_lifecycle": keyLifecycle,
  "0003_ldap": ldap,
  "0004_web": webMigration,
  "0007_oidc": oidcMigration,
};

class InCodeProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/**
 * The database was migrated by a newer Latchkey: its schema has migrations this version does
 * not know, so this version must not run on it (it could write rows the newer code misreads).
 */
export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
  constructor(readonly unknown: string[]) {
    super(
      `the database was upgraded by a newer Latchkey (migrations this version does not know: ${unknown.join(", ")}); run that version or newer`,
    );
  }
}

/** Names of the migrations the database has run, in order; empty for a new database. */
export async function executedMigrations(db: AnyDb, schema?: string): Promise<string[]> {
  const from = schema === undefined ? db : db.withSchema(schema);
  try {
    const rows = await from.selectFrom("kysely_migration").select("name").orderBy("name").execute();
    return rows.map((r) => r.name as string);
  } catch (err) {
    // No bookkeeping table yet: a new database. Any other failure shows when migrating.
    if (/kysely_migration/.test((err as Error).message)) return [];
    throw err;
  }
}

/** Throws `SchemaTooNewError` when the database has run migrations this version does not have. */
export async function refuseNewerSchema(db: AnyDb, schema?: string): Promise<void> {
  const unknown = (await executedMigrations(db, schema)).filter((name) => !(name in MIGRATIONS));
  if (unknown.length > 0) throw new SchemaTooNewError(unknown);
}

/**
 * Brings the schema up to date and returns the names of the migrations it applied (none when
 * it was current); throws with the failing migration's error, or `SchemaTooNewError`. `schema`
 * names the PostgreSQL schema the tables live in, so that the migrator does not mistake another
 * schema's bookkeeping tables (in the same database) for its own.
 */
export async function migrateToLatest(db: AnyDb, schema?: string): Promise<string[]> {
  await refuseNewerSchema(db, schema);
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(),
    // Migrations from parallel lines of work may land in any order; each one only adds.
    allowUnorderedMigrations: true,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    // Before any migration runs, the migrator looks at every schema's tables by name; a schema
    // another client drops meanwhile (in a shared database) makes that look fail. It is only a
    // race: try again, a few times.
    if (failed === undefined && isVanishedSchema(error) && attempt < 5) {
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      continue;
    }
    throw new Error(`migration ${failed ?? "unknown"} failed: ${(error as Error).message ?? String(error)}`);
  }
}

/** PostgreSQL's invalid_schema_name and undefined_table: an object that went away under a query. */
function isVanishedSchema(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "3F000" || code === "42P01";
}
