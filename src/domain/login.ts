/**
 * Logging in with a username and password (docs/zulip-rules.md §1 steps 5–6, §4.1), throttled per username (§4.5).
 */

import {
  authenticationFailed,
  MESSAGES,
  passwordAuthDisabled,
  passwordResetRequired,
  rateLimited,
  realmDeactivated,
  serviceUnavailable,
  userDeactivated,
  type ZulipError,
} from "../errors.js";
import type { AuthFlag, Context, PasswordAttempt } from "./context.js";
import { isValidEmail } from "./email.js";
import { DirectoryUnavailableError } from "./ldap-login.js";
import { loginThrottleKey } from "./login-identity.js";
import type { Realm, User } from "./model.js";
import { isOversizedPassword, passwordProblem } from "./password-policy.js";
import type { HashOptions, PasswordHasher, VerifyResult } from "./ports.js";
import type { RateDecision } from "./rate-limiter.js";

export function ldapEnabled(ctx: Context, realm: Realm): boolean {
  return ctx.ldap?.configured === true && realm.authMethods.ldap;
}

export function passwordAuthEnabled(ctx: Context, realm: Realm): boolean {
  return realm.authMethods.email || ldapEnabled(ctx, realm);
}

/** §4.3: false only when LDAP is on and maps plain usernames to accounts. */
export function requireEmailFormatUsernames(ctx: Context, realm: Realm | null): boolean {
  if (realm === null || !ldapEnabled(ctx, realm)) return true;
  return ctx.ldap?.requiresEmailUsernames ?? true;
}

/**
 * Zulip's `email_belongs_to_ldap` for an organization: false unless LDAP login is on there.
 * When the directory cannot be asked the answer is "unavailable", and callers fail closed.
 */
export async function emailBelongsToLdap(ctx: Context, realm: Realm, email: string): Promise<boolean | "unavailable"> {
  if (ctx.ldap === null || !ldapEnabled(ctx, realm) || !isValidEmail(email)) return false;
  try {
    return await ctx.ldap.managesEmail(email);
  } catch (err) {
    if (!(err instanceof DirectoryUnavailableError)) throw err;
    ctx.log.error({ err, realm: realm.subdomain }, "LDAP directory unavailable; login refused");
    return "unavailable";
  }
}

/**
 * Zulip's `common_get_active_user`: the account in this realm, or null with the flag that
 * explains why (another realm, deactivated realm, deactivated user).
 */
export async function findActiveUser(ctx: Context, realm: Realm, email: string, flags: Set<AuthFlag>): Promise<User | null> {
  const user = await ctx.stores.users.findByDeliveryEmail(realm.id, email);
  if (user === null) {
    if (await ctx.stores.users.existsInOtherRealm(email, realm.id)) flags.add("invalid_subdomain");
    return null;
  }
  if (realm.deactivated) {
    flags.add("inactive_realm");
    return null;
  }
  if (!user.isActive) {
    flags.add("inactive_user");
    return null;
  }
  return user;
}

/** EmailAuthBackend (§4.1): passwords kept by this server. */
async function authenticateByEmail(ctx: Context, attempt: PasswordAttempt, flags: Set<AuthFlag>): Promise<User | null> {
  const { realm, username, password } = attempt;
  if (!passwordAuthEnabled(ctx, realm)) {
    flags.add("password_auth_disabled");
    return null;
  }
  if (!realm.authMethods.email) {
    flags.add("email_auth_disabled");
    return null;
  }
  if (password === "") return null;
  const user = await findActiveUser(ctx, realm, username, flags);
  // No account, or one without a usable password: the caller burns one dummy verification.
  if (user === null || user.passwordHash === null) return null;
  const result = await ctx.hasher.verify(user.passwordHash, password, { signal: attempt.signal });
  if (result.tooCostly)
    ctx.log.warn({ userId: user.id }, "stored password hash asks for more work than the ceiling; login refused");
  if (!result.ok) return null;
  if (result.legacy && passwordProblem(password) !== null) {
    // Zulip refuses to carry a weak imported password forward (PasswordTooWeakError).
    flags.add("password_reset_needed");
    return null;
  }
  if (result.needsRehash) await upgradePasswordHash(ctx, user, password);
  return user;
}

/** A hasher that remembers whether this attempt verified anything. */
class AttemptHasher implements PasswordHasher {
  verified = false;
  constructor(private readonly inner: PasswordHasher) {}
  hash(password: string, options?: HashOptions): Promise<string> {
    return this.inner.hash(password, options);
  }
  verify(stored: string, password: string, options?: HashOptions): Promise<VerifyResult> {
    this.verified = true;
    return this.inner.verify(stored, password, options);
  }
  verifyDummy(password: string, options?: HashOptions): Promise<void> {
    this.verified = true;
    return this.inner.verifyDummy(password, options);
  }
}

async function upgradePasswordHash(ctx: Context, user: User, password: string): Promise<void> {
  try {
    const passwordHash = await ctx.hasher.hash(password);
    await ctx.stores.users.update(user.id, { passwordHash });
    ctx.keyCache.invalidate({ kind: "user", userId: user.id });
  } catch (err) {
    // The login itself succeeded; a failed upgrade is retried on the next login.
    ctx.log.warn({ err, userId: user.id }, "could not upgrade password hash");
  }
}

/** The error §1's table gives for a failed attempt, checked in its order. */
export function loginFailure(flags: Set<AuthFlag>): ZulipError {
  if (flags.has("inactive_user")) return userDeactivated();
  if (flags.has("inactive_realm")) return realmDeactivated();
  if (flags.has("password_auth_disabled")) return passwordAuthDisabled();
  if (flags.has("password_reset_needed")) return passwordResetRequired();
  // Latchkey: a directory that could not be asked is not a wrong password (docs/ldap.md).
  if (flags.has("ldap_unavailable")) return serviceUnavailable(MESSAGES.ldapUnavailable);
  return authenticationFailed();
}

export interface LoginResult {
  user: User;
  /** The throttle's state after this attempt, for the X-RateLimit-* headers. */
  rate: RateDecision;
}

/**
 * Django's `authenticate()` over the configured backends, behind the per-account throttle (one
 * budget for every spelling of the account, src/domain/login-identity.ts).
 * Every attempt counts, success included; a success clears the history. Throws the §1 error.
 *
 * A failure reveals nothing the §1 table does not: every attempt that reaches the backends
 * costs exactly one password verification, whichever backend turned it down and why (no such
 * account, an account of another organization, no usable password, an LDAP miss, a disabled
 * method), so that timing does not tell which accounts exist.
 */
export async function loginWithPassword(
  ctx: Context,
  attempt: PasswordAttempt,
  onRate: (rate: RateDecision) => void = () => {},
): Promise<LoginResult> {
  // A full hash queue turns the attempt away before it counts against any budget or looks
  // anything up, the same for every account (a 503 with Retry-After).
  ctx.hasher.assertCapacity?.();
  const throttleKey = loginThrottleKey(ctx, attempt.realm, attempt.username);
  const rate = await ctx.authLimiter.hit(throttleKey, ctx.authRateRules);
  onRate(rate);
  if (rate.limited) throw rateLimited(rate.secondsToFreedom);

  // Oversized passwords are refused before any lookup or hashing: a huge input must not cost
  // CPU. Every account gets the same answer and the same (no) work.
  if (isOversizedPassword(attempt.password)) throw authenticationFailed();

  const flags = new Set<AuthFlag>();
  const hasher = new AttemptHasher(ctx.hasher);
  const attemptCtx: Context = { ...ctx, hasher };
  // An address the directory manages never logs in with a password kept here (Zulip refuses to
  // let such people have one; Latchkey also ignores one set before LDAP was turned on).
  const managed = attempt.realm.authMethods.email ? await emailBelongsToLdap(ctx, attempt.realm, attempt.username) : false;
  // A directory that cannot say whether it manages the address cannot check its password either.
  if (managed === "unavailable") flags.add("ldap_unavailable");
  let user = managed === false ? await authenticateByEmail(attemptCtx, attempt, flags) : null;
  if (user === null && managed !== "unavailable" && ctx.ldap !== null && ldapEnabled(ctx, attempt.realm)) {
    user = await ctx.ldap.authenticate(attemptCtx, attempt, flags);
  }
  if (user === null) {
    // Hash even when no backend did (no account, no usable password, another organization,
    // a disabled method), so that timing does not reveal the account.
    if (!hasher.verified) await ctx.hasher.verifyDummy(attempt.password, { signal: attempt.signal });
    throw loginFailure(flags);
  }
  await ctx.authLimiter.clear(throttleKey);
  return { user, rate };
}
