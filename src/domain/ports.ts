/**
 * The small ports the rules depend on: storage (`src/store/` implements it) and password
 * hashing (`src/auth/`).
 */
import type { SealedKey } from "./api-key.js";
import type { AuthMethods, Realm, User } from "./model.js";
import type { OidcLoginStore, OneTimeTokenStore, SessionStore } from "./web-ports.js";

export interface NewRealm {
  subdomain: string;
  name: string;
  description?: string;
  authMethods?: Partial<AuthMethods>;
  ldapAutoCreate?: boolean;
  oidcAutoCreate?: boolean;
}

export interface RealmChanges {
  name?: string;
  description?: string;
  deactivated?: boolean;
  authMethods?: Partial<AuthMethods>;
  ldapAutoCreate?: boolean;
  oidcAutoCreate?: boolean;
}

export interface RealmStore {
  findBySubdomain(subdomain: string): Promise<Realm | null>;
  findById(id: number): Promise<Realm | null>;
  list(): Promise<Realm[]>;
  create(realm: NewRealm, now: number): Promise<Realm>;
  update(id: number, changes: RealmChanges): Promise<Realm | null>;
}

export interface NewUser {
  realmId: number;
  email: string;
  deliveryEmail: string;
  fullName: string;
  role: number;
  isBot?: boolean;
  botType?: number | null;
  botOwnerId?: number | null;
  passwordHash: string | null;
  apiKey: SealedKey;
  timezone?: string;
  defaultAllPublicStreams?: boolean;
}

/** A bot with the settings only bots have. */
export interface BotUser extends User {
  defaultAllPublicStreams: boolean;
}

export interface UserChanges {
  fullName?: string;
  role?: number;
  isActive?: boolean;
  passwordHash?: string | null;
  apiKey?: SealedKey;
}

export interface UserStore {
  findById(id: number): Promise<User | null>;
  /** Case-insensitive, whitespace-stripped match on the real email within one realm. */
  findByDeliveryEmail(realmId: number, email: string): Promise<User | null>;
  /** Whether an account with this real email exists in a realm other than `realmId`. */
  existsInOtherRealm(email: string, realmId: number): Promise<boolean>;
  findByApiKeyDigest(digest: string): Promise<User | null>;
  getSealedApiKey(userId: number): Promise<SealedKey | null>;
  listByRealm(realmId: number): Promise<User[]>;
  listActiveHumans(): Promise<User[]>;
  create(user: NewUser, now: number): Promise<User>;
  update(id: number, changes: UserChanges): Promise<User | null>;
  /**
   * Stores a new API key; when `expectedDigest` is given, only if the current key is still that
   * one (so a key can only be replaced by a request it authorized). False when nothing changed.
   */
  replaceApiKey(id: number, key: SealedKey, expectedDigest?: string): Promise<boolean>;
  /** A realm's bots owned by `ownerId`, by date joined (active ones only unless asked). */
  listBotsOwnedBy(ownerId: number, includeInactive?: boolean): Promise<BotUser[]>;
  /** Whether an active account in the realm has exactly this full name (Zulip's `check_bot_name_available`). */
  activeFullNameExists(realmId: number, fullName: string): Promise<boolean>;
}

/** Zulip's `PushDeviceToken.kind`. */
export const PUSH_KIND = { apns: 1, fcm: 2 } as const;

export interface PushDeviceStore {
  /** Adds a token; an existing (user, kind, token) is left as it is. */
  add(userId: number, kind: number, token: string, iosAppId: string | null, now: number): Promise<void>;
  /** Removes one token; false when there was none. */
  remove(userId: number, kind: number, token: string): Promise<boolean>;
  /** Removes every token of the user; returns how many there were. */
  removeAll(userId: number): Promise<number>;
  list(userId: number): Promise<{ kind: number; token: string; iosAppId: string | null }[]>;
}

export interface AuditEvent {
  realmId: number;
  actingUserId: number | null;
  modifiedUserId: number | null;
  eventType: number;
  eventTime: number;
  ip: string | null;
  client: string | null;
  extra?: Record<string, unknown>;
}

export interface StoredAuditEvent extends AuditEvent {
  id: number;
  extra: Record<string, unknown>;
}

export interface AuditLogStore {
  add(event: AuditEvent): Promise<void>;
  /** The realm's newest events first. */
  list(realmId: number, limit: number): Promise<StoredAuditEvent[]>;
}

export interface KeyUse {
  usedAt: number;
  ip: string;
  client: string;
}

export interface KeyUseRecord {
  userId: number;
  keyDigest: string;
  use: KeyUse;
}

export interface KeyUseStore {
  /** Records the uses of several keys (each digest once) in one statement. */
  recordMany(uses: KeyUseRecord[]): Promise<void>;
  find(keyDigest: string): Promise<KeyUse | null>;
  /** Forgets every key of the user but `keepDigest`. */
  forgetOthers(userId: number, keepDigest: string): Promise<void>;
}

export interface BotService {
  baseUrl: string;
  interface: number;
  token: SealedKey;
}

export interface BotServiceStore {
  add(botUserId: number, service: BotService): Promise<void>;
  find(botUserId: number): Promise<BotService | null>;
}

export interface Stores {
  realms: RealmStore;
  users: UserStore;
  pushDevices: PushDeviceStore;
  auditLog: AuditLogStore;
  keyUses: KeyUseStore;
  botServices: BotServiceStore;
  /** Web sessions (the web app). */
  sessions: SessionStore;
  /** Password-reset links and desktop login tokens. */
  oneTimeTokens: OneTimeTokenStore;
  /** OpenID Connect logins between the redirect to the provider and its answer. */
  oidcLogins: OidcLoginStore;
  /** Runs `work` in one transaction; it commits when `work` resolves and rolls back if it throws. */
  transaction<T>(work: (stores: Stores) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query (readiness checks). */
  ping(): Promise<void>;
}

/** Thrown by a store when a unique constraint would be broken. */
export class DuplicateError extends Error {
  override name = "DuplicateError";
}

export interface VerifyResult {
  ok: boolean;
  /**
   * True when the stored hash asks for more work than the ceiling allows, so it was refused
   * without being checked (at the cost of one ordinary verification).
   */
  tooCostly?: boolean;
  /** True when the password matched but the stored hash uses an outdated format or parameters. */
  needsRehash: boolean;
  /** True when the stored hash was in one of Django's formats (a legacy import). */
  legacy: boolean;
}

/** What the rules need from a password hasher; `src/auth/password-hasher.ts` implements it with Argon2id. */
export interface HashOptions {
  /**
   * Aborts when the client goes away: work still waiting its turn is then dropped
   * (ClientGoneError) instead of being done for nobody.
   */
  signal?: AbortSignal;
}

export interface PasswordHasher {
  /** May throw HashQueueFullError (too much work waiting) or ClientGoneError. */
  hash(password: string, options?: HashOptions): Promise<string>;
  verify(stored: string, password: string, options?: HashOptions): Promise<VerifyResult>;
  /**
   * Burns the same work as a real verification against a fixed hash. Called when there is no
   * account (or no usable password) so that timing does not reveal which accounts exist.
   */
  verifyDummy(password: string, options?: HashOptions): Promise<void>;
  /**
   * Throws HashQueueFullError when a new password check would be refused at once, so a login
   * can be turned away before it counts against any budget or looks anything up.
   */
  assertCapacity?(): void;
}
