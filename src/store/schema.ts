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
  /** 0007_oidc: OpenID Connect login on for this organization. */
  oidc_auth_enabled: Generated<number>;
  /** 0007_oidc: create accounts for people an identity provider vouches for. */
  oidc_auto_create: Generated<number>;
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
  /** Bots: whether the bot follows every public channel (Zulip's field; stored, not acted on). */
  default_all_public_streams: Generated<number>;
}

/** A mobile device's push token (Zulip's `PushDeviceToken`); kind 1 is APNs, 2 is FCM. */
export interface PushDeviceTokenTable {
  id: Generated<number>;
  user_id: number;
  kind: number;
  token: string;
  /** The iOS app id sent with an APNs token; null for FCM. */
  ios_app_id: string | null;
  date_created: number;
}

/** One row per administrative event (Zulip's `RealmAuditLog`). */
export interface AuditLogTable {
  id: Generated<number>;
  realm_id: number;
  acting_user_id: number | null;
  modified_user_id: number | null;
  event_type: number;
  event_time: number;
  ip: string | null;
  client: string | null;
  /** JSON object text. */
  extra_data: string;
}

/** When, from where and by which client an API key was last used; one row per key digest. */
export interface ApiKeyLastUseTable {
  key_digest: string;
  user_id: number;
  used_at: number;
  ip: string;
  client: string;
}

/** An outgoing-webhook bot's service (Zulip's `Service`): where it posts and its token, sealed. */
export interface BotServiceTable {
  id: Generated<number>;
  bot_user_id: number;
  base_url: string;
  interface: number;
  token_digest: string;
  token_sealed: string;
}

/** A browser session (migration 0004_web); the id is stored only as its SHA-256. */
export interface WebSessionTable {
  id_hash: string;
  user_id: number;
  created_at: number;
  expires_at: number;
}

/** A one-time token: a password-reset link or a desktop login (0004_web); stored as its SHA-256. */
export interface OneTimeTokenTable {
  token_hash: string;
  kind: string;
  user_id: number;
  created_at: number;
  expires_at: number;
}

/** An OpenID Connect login in flight (0007_oidc), keyed by the SHA-256 of its `state`. */
export interface OidcLoginTable {
  state_hash: string;
  sealed: string;
  created_at: number;
  expires_at: number;
}

export interface Database {
  realms: RealmTable;
  users: UserTable;
  push_device_tokens: PushDeviceTokenTable;
  audit_log: AuditLogTable;
  api_key_last_use: ApiKeyLastUseTable;
  bot_services: BotServiceTable;
  web_sessions: WebSessionTable;
  one_time_tokens: OneTimeTokenTable;
  oidc_logins: OidcLoginTable;
}

export type RealmRow = Selectable<RealmTable>;
export type NewRealmRow = Insertable<RealmTable>;
export type RealmPatch = Updateable<RealmTable>;
export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserPatch = Updateable<UserTable>;
