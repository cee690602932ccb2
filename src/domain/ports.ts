/** The small storage ports the rules depend on; `src/store/` implements them. */
import type { SealedKey } from "./api-key.js";
import type { AuthMethods, Realm, User } from "./model.js";

export interface NewRealm {
  subdomain: string;
  name: string;
  description?: string;
  authMethods?: Partial<AuthMethods>;
  ldapAutoCreate?: boolean;
}

export interface RealmChanges {
  name?: string;
  description?: string;
  deactivated?: boolean;
  authMethods?: Partial<AuthMethods>;
  ldapAutoCreate?: boolean;
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
}

export interface Stores {
  realms: RealmStore;
  users: UserStore;
  /** Runs `work` in one transaction; it commits when `work` resolves and rolls back if it throws. */
  transaction<T>(work: (stores: Stores) => Promise<T>): Promise<T>;
}

/** Thrown by a store when a unique constraint would be broken. */
export class DuplicateError extends Error {
  override name = "DuplicateError";
}
