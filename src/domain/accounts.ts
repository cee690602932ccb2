/**
 * Administration of organizations and accounts. Every change that can affect an API-key check
 * invalidates the key cache after it is stored.
 */
import { ZulipError } from "../errors.js";
import { generateApiKey } from "./api-key.js";
import { type ChangeSource, recordAuditEvent } from "./audit.js";
import type { Context } from "./context.js";
import { isValidEmail } from "./email.js";
import { loginThrottleKey } from "./login-identity.js";
import { type AuthMethods, type Realm, ROLE, type User } from "./model.js";
import { DuplicateError, type NewRealm } from "./ports.js";
import { endAccountTrust, endRealmTrust } from "./sessions.js";

const SUBDOMAIN_FORMAT = /^(|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

export class AccountError extends Error {
  override name = "AccountError";
}

export interface NewAccount {
  realmId: number;
  email: string;
  fullName: string;
  role?: number;
  /** Plaintext password; null creates an account without a usable password. */
  password: string | null;
  timezone?: string;
}

export interface CreatedAccount {
  user: User;
  apiKey: string;
}

export async function createRealm(ctx: Context, realm: NewRealm): Promise<Realm> {
  const subdomain = realm.subdomain.trim().toLowerCase();
  if (!SUBDOMAIN_FORMAT.test(subdomain)) {
    throw new AccountError(`invalid subdomain ${JSON.stringify(realm.subdomain)}: use letters, digits and hyphens`);
  }
  if (realm.name.trim() === "") throw new AccountError("the organization needs a name");
  try {
    return await ctx.stores.realms.create({ ...realm, subdomain, name: realm.name.trim() }, ctx.clock.now());
  } catch (err) {
    if (err instanceof DuplicateError) throw new AccountError(`an organization already exists at subdomain "${subdomain}"`);
    throw err;
  }
}

/** Creates a human account with a fresh API key; the password is hashed here. */
export async function createAccount(ctx: Context, account: NewAccount): Promise<CreatedAccount> {
  const email = account.email.trim();
  if (!isValidEmail(email)) throw new AccountError(`invalid email address ${JSON.stringify(account.email)}`);
  const fullName = account.fullName.trim();
  if (fullName === "" || fullName.length > 100) throw new AccountError("the full name must be 1 to 100 characters");
  const passwordHash = account.password === null ? null : await ctx.hasher.hash(account.password);
  const apiKey = generateApiKey();
  try {
    const user = await ctx.stores.users.create(
      {
        realmId: account.realmId,
        email,
        deliveryEmail: email,
        fullName,
        role: account.role ?? ROLE.member,
        passwordHash,
        apiKey: ctx.vault.seal(apiKey),
        timezone: account.timezone ?? "",
      },
      ctx.clock.now(),
    );
    return { user, apiKey };
  } catch (err) {
    if (err instanceof DuplicateError)
      throw new AccountError(`an account with email ${email} already exists in this organization`);
    throw err;
  }
}

export async function requireRealm(ctx: Context, subdomain: string): Promise<Realm> {
  const realm = await ctx.stores.realms.findBySubdomain(subdomain.trim().toLowerCase());
  if (realm === null) throw new AccountError(`no organization at subdomain "${subdomain}"`);
  return realm;
}

export async function requireUser(ctx: Context, realm: Realm, email: string): Promise<User> {
  const user = await ctx.stores.users.findByDeliveryEmail(realm.id, email);
  if (user === null) throw new AccountError(`no account ${email} in this organization`);
  return user;
}

/**
 * Deactivates or reactivates an account. Deactivating a person also deactivates the bots they
 * own (Zulip's `do_deactivate_user`); reactivating does not bring the bots back.
 */
export async function setAccountActive(ctx: Context, userId: number, active: boolean): Promise<User> {
  const changed = await ctx.stores.transaction(async (stores) => {
    const user = await stores.users.update(userId, { isActive: active });
    if (user === null) throw new AccountError(`no account with id ${userId}`);
    const bots: User[] = [];
    if (!active) await endAccountTrust(stores, user.id);
    if (!active && !user.isBot) {
      for (const other of await stores.users.listByRealm(user.realmId)) {
        if (other.isBot && other.isActive && other.botOwnerId === user.id) {
          await stores.users.update(other.id, { isActive: false });
          bots.push(other);
        }
      }
    }
    return { user, bots };
  });
  ctx.keyCache.invalidate({ kind: "user", userId });
  for (const bot of changed.bots) ctx.keyCache.invalidate({ kind: "user", userId: bot.id });
  return changed.user;
}

/**
 * Deactivates or reactivates an organization. Deactivating ends every web session, reset link
 * and desktop login token of its accounts; reactivating brings none of them back.
 */
export async function setRealmDeactivated(ctx: Context, realmId: number, deactivated: boolean): Promise<Realm> {
  const realm = await ctx.stores.transaction(async (stores) => {
    const updated = await stores.realms.update(realmId, { deactivated });
    if (updated !== null && deactivated) await endRealmTrust(stores, realmId);
    return updated;
  });
  if (realm === null) throw new AccountError(`no organization with id ${realmId}`);
  ctx.keyCache.invalidate({ kind: "realm", realmId });
  return realm;
}

export async function setRealmAuthMethods(ctx: Context, realmId: number, methods: Partial<AuthMethods>): Promise<Realm> {
  const realm = await ctx.stores.realms.update(realmId, { authMethods: methods });
  if (realm === null) throw new AccountError(`no organization with id ${realmId}`);
  ctx.keyCache.invalidate({ kind: "realm", realmId });
  return realm;
}

/**
 * Sets a new password (Zulip's `do_change_password`), clears the account's login throttle
 * (docs/zulip-rules.md §4.5) and ends the account's web sessions, reset links and desktop login
 * tokens: passwords are set from the CLI or a reset link, never from inside a session.
 */
export async function setPassword(ctx: Context, user: User, password: string | null): Promise<void> {
  const passwordHash = password === null ? null : await ctx.hasher.hash(password);
  await ctx.stores.transaction(async (stores) => {
    await stores.users.update(user.id, { passwordHash });
    await endAccountTrust(stores, user.id);
  });
  ctx.keyCache.invalidate({ kind: "user", userId: user.id });
  const realm = await ctx.stores.realms.findById(user.realmId);
  if (realm !== null) await ctx.authLimiter.clear(loginThrottleKey(ctx, realm, user.deliveryEmail));
}

/** The account's current API key, unsealed. */
export async function revealApiKey(ctx: Context, userId: number): Promise<string> {
  const sealed = await ctx.stores.users.getSealedApiKey(userId);
  if (sealed === null) throw new ZulipError("No such user");
  return ctx.vault.unseal(sealed);
}

/**
 * Changes an account's role (Zulip's `do_change_user_role`, with the `check_last_owner` guard of
 * `update_user_backend`): an organization keeps at least one active human owner. The audit event
 * records the old and new role. Returns false when the account already has that role.
 */
export async function changeRole(
  ctx: Context,
  user: User,
  role: number,
  acting: User | null,
  source: ChangeSource,
): Promise<boolean> {
  const changed = await ctx.stores.transaction(async (stores) => {
    const current = await stores.users.findById(user.id);
    if (current === null) throw new AccountError(`no account with id ${user.id}`);
    if (current.role === role) return false;
    if (current.role === ROLE.owner && current.isActive && !current.isBot) {
      const owners = (await stores.users.listByRealm(current.realmId)).filter(
        (u) => u.role === ROLE.owner && u.isActive && !u.isBot,
      );
      if (owners.length === 1) throw new AccountError("The owner permission cannot be removed from the only organization owner.");
    }
    await stores.users.update(current.id, { role });
    await recordAuditEvent(ctx, stores, {
      type: "USER_ROLE_CHANGED",
      acting,
      modified: current,
      source,
      extra: { old_value: current.role, new_value: role },
    });
    return true;
  });
  // Cached principals carry the role (administrators manage others' bots; guests may not own any).
  if (changed) ctx.keyCache.invalidate({ kind: "user", userId: user.id });
  return changed;
}
