/**
 * The database schema as Kysely sees it. One schema for SQLite and PostgreSQL: flags are
 * integers (0/1) and times are milliseconds since the epoch in both.
 */
import type { Generated, Insertable, Selectable, Updateable } from "kysely";

export interface RealmTable {
  id: Generated<number>;
  /** The subdomain; "" is the root organization. */
  string_id: string;
  name: string;
  description: string;
  deactivated: Generated<number>;
  email_auth_enabled: Generated<number>;
  ldap_auth_enabled: Generated<number>;
  dev_auth_enabled: Generated<number>;
  date_created: number;
  /** 0003_ldap: create accounts for directory users on first login. */
  ldap_auto_create: Generated<number>;
}

export interface UserTable {
  id: Generated<number>;
  realm_id: number;
  /** The public email (may differ from the real one when visibility is restricted). */
  email: string;
  /** The real address; what logins and Basic auth match. */
  delivery_email: string;
  /** `delivery_email` lower-cased: the unique, case-insensitive lookup column. */
  delivery_email_key: string;
  full_name: string;
  role: number;
  is_active: Generated<number>;
  is_bot: Generated<number>;
  bot_type: number | null;
  bot_owner_id: number | null;
  /** PHC or Django hash; null when the user has no usable password. */
  password_hash: string | null;
  /** HMAC-SHA-256 of the API key: the unique lookup column. */
  api_key_digest: string;
  /** AES-256-GCM sealed copy of the API key. */
  api_key_sealed: string;
  date_joined: number;
  timezone: Generated<string>;
  enable_login_emails: Generated<number>;
  twenty_four_hour_time: Generated<number>;
  avatar_version: Generated<number>;
}

export interface Database {
  realms: RealmTable;
  users: UserTable;
}

export type RealmRow = Selectable<RealmTable>;
export type NewRealmRow = Insertable<RealmTable>;
export type RealmPatch = Updateable<RealmTable>;
export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserPatch = Updateable<UserTable>;
