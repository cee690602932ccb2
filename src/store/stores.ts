/** Kysely repositories implementing the domain's storage ports, for SQLite and PostgreSQL alike. */
import { type Kysely, sql, type Transaction } from "kysely";
import type { SealedKey } from "../domain/api-key.js";
import { emailKey, type Realm, type User } from "../domain/model.js";
import {
  type BotUser,
  DuplicateError,
  type NewRealm,
  type NewUser,
  type RealmChanges,
  type RealmStore,
  type Stores,
  type UserChanges,
  type UserStore,
} from "../domain/ports.js";
import { KyselyAuditLogStore, KyselyBotServiceStore, KyselyKeyUseStore, KyselyPushDeviceStore } from "./lifecycle-stores.js";
import type { Database, RealmPatch, RealmRow, UserPatch, UserRow } from "./schema.js";
import { KyselyOidcLoginStore, KyselyOneTimeTokenStore, KyselySessionStore } from "./web-stores.js";

type Db = Kysely<Database> | Transaction<Database>;

const bit = (b: boolean): number => (b ? 1 : 0);

function toRealm(row: RealmRow): Realm {
  return {
    id: row.id,
    subdomain: row.string_id,
    name: row.name,
    description: row.description,
    deactivated: row.deactivated === 1,
    authMethods: {
      email: row.email_auth_enabled === 1,
      ldap: row.ldap_auth_enabled === 1,
      dev: row.dev_auth_enabled === 1,
      oidc: row.oidc_auth_enabled === 1,
    },
    dateCreated: Number(row.date_created),
    ldapAutoCreate: row.ldap_auto_create === 1,
    oidcAutoCreate: row.oidc_auto_create === 1,
  };
}

const USER_COLUMNS = [
  "id",
  "realm_id",
  "email",
  "delivery_email",
  "full_name",
  "role",
  "is_active",
  "is_bot",
  "bot_type",
  "bot_owner_id",
  "password_hash",
  "date_joined",
  "timezone",
  "enable_login_emails",
  "twenty_four_hour_time",
  "avatar_version",
] as const;

type UserColumns = Pick<UserRow, (typeof USER_COLUMNS)[number]>;

function toUser(row: UserColumns): User {
  return {
    id: row.id,
    realmId: row.realm_id,
    email: row.email,
    deliveryEmail: row.delivery_email,
    fullName: row.full_name,
    role: row.role,
    isActive: row.is_active === 1,
    isBot: row.is_bot === 1,
    botType: row.bot_type,
    botOwnerId: row.bot_owner_id,
    passwordHash: row.password_hash,
    dateJoined: Number(row.date_joined),
    timezone: row.timezone,
    enableLoginEmails: row.enable_login_emails === 1,
    twentyFourHourTime: row.twenty_four_hour_time === 1,
    avatarVersion: row.avatar_version,
  };
}

/** Unique-constraint violations look different in each driver; both become DuplicateError. */
function rethrowDuplicate(err: unknown): never {
  const e = err as { code?: string; message?: string };
  if (e.code === "23505" || e.code === "SQLITE_CONSTRAINT_UNIQUE" || /UNIQUE constraint failed/.test(e.message ?? "")) {
    throw new DuplicateError(e.message ?? "duplicate");
  }
  throw err;
}

function authPatch(methods: RealmChanges["authMethods"]): RealmPatch {
  const patch: RealmPatch = {};
  if (methods?.email !== undefined) patch.email_auth_enabled = bit(methods.email);
  if (methods?.ldap !== undefined) patch.ldap_auth_enabled = bit(methods.ldap);
  if (methods?.dev !== undefined) patch.dev_auth_enabled = bit(methods.dev);
  if (methods?.oidc !== undefined) patch.oidc_auth_enabled = bit(methods.oidc);
  return patch;
}

class KyselyRealmStore implements RealmStore {
  constructor(private readonly db: Db) {}

  async findBySubdomain(subdomain: string): Promise<Realm | null> {
    // Subdomains come from the Host header; no stored one holds a NUL, and PostgreSQL refuses one.
    if (subdomain.includes("\u0000")) return null;
    const row = await this.db.selectFrom("realms").selectAll().where("string_id", "=", subdomain).executeTakeFirst();
    return row ? toRealm(row) : null;
  }

  async findById(id: number): Promise<Realm | null> {
    const row = await this.db.selectFrom("realms").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toRealm(row) : null;
  }

  async list(): Promise<Realm[]> {
    const rows = await this.db.selectFrom("realms").selectAll().orderBy("id").execute();
    return rows.map(toRealm);
  }

  async create(realm: NewRealm, now: number): Promise<Realm> {
    try {
      const row = await this.db
        .insertInto("realms")
        .values({
          string_id: realm.subdomain,
          name: realm.name,
          description: realm.description ?? "",
          date_created: now,
          ...authPatch(realm.authMethods),
          ...(realm.ldapAutoCreate === undefined ? {} : { ldap_auto_create: bit(realm.ldapAutoCreate) }),
          ...(realm.oidcAutoCreate === undefined ? {} : { oidc_auto_create: bit(realm.oidcAutoCreate) }),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRealm(row);
    } catch (err) {
      rethrowDuplicate(err);
    }
  }

  async update(id: number, changes: RealmChanges): Promise<Realm | null> {
    const patch: RealmPatch = authPatch(changes.authMethods);
    if (changes.name !== undefined) patch.name = changes.name;
    if (changes.description !== undefined) patch.description = changes.description;
    if (changes.deactivated !== undefined) patch.deactivated = bit(changes.deactivated);
    if (changes.ldapAutoCreate !== undefined) patch.ldap_auto_create = bit(changes.ldapAutoCreate);
    if (changes.oidcAutoCreate !== undefined) patch.oidc_auto_create = bit(changes.oidcAutoCreate);
    if (Object.keys(patch).length === 0) return this.findById(id);
    const row = await this.db.updateTable("realms").set(patch).where("id", "=", id).returningAll().executeTakeFirst();
    return row ? toRealm(row) : null;
  }
}

class KyselyUserStore implements UserStore {
  constructor(private readonly db: Db) {}

  private select() {
    return this.db.selectFrom("users").select(USER_COLUMNS);
  }

  async findById(id: number): Promise<User | null> {
    const row = await this.select().where("id", "=", id).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async findByDeliveryEmail(realmId: number, email: string): Promise<User | null> {
    // No stored address holds a NUL, and PostgreSQL refuses one in a query.
    if (email.includes("\u0000")) return null;
    const row = await this.select()
      .where("realm_id", "=", realmId)
      .where("delivery_email_key", "=", emailKey(email))
      .executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async existsInOtherRealm(email: string, realmId: number): Promise<boolean> {
    if (email.includes("\u0000")) return false;
    const row = await this.db
      .selectFrom("users")
      .select("id")
      .where("delivery_email_key", "=", emailKey(email))
      .where("realm_id", "!=", realmId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async findByApiKeyDigest(digest: string): Promise<User | null> {
    const row = await this.select().where("api_key_digest", "=", digest).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async getSealedApiKey(userId: number): Promise<SealedKey | null> {
    const row = await this.db
      .selectFrom("users")
      .select(["api_key_digest", "api_key_sealed"])
      .where("id", "=", userId)
      .executeTakeFirst();
    return row ? { digest: row.api_key_digest, sealed: row.api_key_sealed } : null;
  }

  async listByRealm(realmId: number): Promise<User[]> {
    const rows = await this.select().where("realm_id", "=", realmId).orderBy("id").execute();
    return rows.map(toUser);
  }

  async listActiveHumans(): Promise<User[]> {
    const rows = await this.select().where("is_active", "=", 1).where("is_bot", "=", 0).orderBy("id").execute();
    return rows.map(toUser);
  }

  async create(user: NewUser, now: number): Promise<User> {
    try {
      const row = await this.db
        .insertInto("users")
        .values({
          realm_id: user.realmId,
          email: user.email,
          delivery_email: user.deliveryEmail,
          delivery_email_key: emailKey(user.deliveryEmail),
          full_name: user.fullName,
          role: user.role,
          is_bot: bit(user.isBot ?? false),
          bot_type: user.botType ?? null,
          bot_owner_id: user.botOwnerId ?? null,
          password_hash: user.passwordHash,
          api_key_digest: user.apiKey.digest,
          api_key_sealed: user.apiKey.sealed,
          date_joined: now,
          timezone: user.timezone ?? "",
          default_all_public_streams: bit(user.defaultAllPublicStreams ?? false),
        })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
      return toUser(row);
    } catch (err) {
      rethrowDuplicate(err);
    }
  }

  async update(id: number, changes: UserChanges): Promise<User | null> {
    const patch: UserPatch = {};
    if (changes.fullName !== undefined) patch.full_name = changes.fullName;
    if (changes.role !== undefined) patch.role = changes.role;
    if (changes.isActive !== undefined) patch.is_active = bit(changes.isActive);
    if (changes.passwordHash !== undefined) patch.password_hash = changes.passwordHash;
    if (changes.apiKey !== undefined) {
      patch.api_key_digest = changes.apiKey.digest;
      patch.api_key_sealed = changes.apiKey.sealed;
    }
    if (Object.keys(patch).length === 0) return this.findById(id);
    try {
      const row = await this.db.updateTable("users").set(patch).where("id", "=", id).returning(USER_COLUMNS).executeTakeFirst();
      return row ? toUser(row) : null;
    } catch (err) {
      rethrowDuplicate(err);
    }
  }

  async replaceApiKey(id: number, key: SealedKey, expectedDigest?: string): Promise<boolean> {
    let query = this.db.updateTable("users").set({ api_key_digest: key.digest, api_key_sealed: key.sealed }).where("id", "=", id);
    if (expectedDigest !== undefined) query = query.where("api_key_digest", "=", expectedDigest);
    try {
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    } catch (err) {
      rethrowDuplicate(err);
    }
  }

  async listBotsOwnedBy(ownerId: number, includeInactive = false): Promise<BotUser[]> {
    let query = this.db
      .selectFrom("users")
      .select([...USER_COLUMNS, "default_all_public_streams"])
      .where("bot_owner_id", "=", ownerId)
      .where("is_bot", "=", 1);
    if (!includeInactive) query = query.where("is_active", "=", 1);
    const rows = await query.orderBy("date_joined").orderBy("id").execute();
    return rows.map((row) => ({ ...toUser(row), defaultAllPublicStreams: row.default_all_public_streams === 1 }));
  }

  async activeFullNameExists(realmId: number, fullName: string): Promise<boolean> {
    if (fullName.includes("\u0000")) return false;
    const row = await this.db
      .selectFrom("users")
      .select("id")
      .where("realm_id", "=", realmId)
      .where("full_name", "=", fullName)
      .where("is_active", "=", 1)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}

/** The domain's stores over a Kysely database or transaction. */
export function createStores(db: Db): Stores {
  return {
    realms: new KyselyRealmStore(db),
    users: new KyselyUserStore(db),
    pushDevices: new KyselyPushDeviceStore(db),
    auditLog: new KyselyAuditLogStore(db),
    keyUses: new KyselyKeyUseStore(db),
    botServices: new KyselyBotServiceStore(db),
    sessions: new KyselySessionStore(db),
    oneTimeTokens: new KyselyOneTimeTokenStore(db),
    oidcLogins: new KyselyOidcLoginStore(db),
    transaction: (work) =>
      db.isTransaction
        ? work(createStores(db))
        : (db as Kysely<Database>).transaction().execute((trx) => work(createStores(trx))),
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
  };
}
