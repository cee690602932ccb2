/**
 * Logging in with a JSON Web Token (docs/zulip-rules.md §1b): Zulip's `jwt_fetch_api_key` and
 * `get_email_and_realm_from_jwt_authentication_request`. An application holding an
 * organization's key signs `{"email": …}` and gets that person's API key.
 */
import { authenticationFailed, rateLimited, ZulipError } from "../errors.js";
import type { AuthFlag, Context } from "./context.js";
import { findActiveUser, loginFailure } from "./login.js";
import { loginThrottleKey } from "./login-identity.js";
import type { Realm, User } from "./model.js";
import type { RateDecision } from "./rate-limiter.js";

export const JWT_MESSAGES = {
  notEnabled: "JWT authentication is not enabled for this organization",
  noToken: "No JSON web token passed in request",
  badToken: "Bad JSON web token",
  noEmail: "No email specified in JSON web token claims",
} as const;

/** The email the token names, checked in Zulip's order; throws the 400 of the first check that fails. */
export async function emailFromJwt(ctx: Context, realm: Realm, token: string): Promise<unknown> {
  const verifier = ctx.jwt;
  if (verifier === null || !verifier.enabledFor(realm.subdomain)) throw new ZulipError(JWT_MESSAGES.notEnabled);
  if (token === "") throw new ZulipError(JWT_MESSAGES.noToken);
  const claims = await verifier.verify(realm.subdomain, token);
  if (claims === null) throw new ZulipError(JWT_MESSAGES.badToken);
  const email = claims.email;
  if (email === undefined || email === null) throw new ZulipError(JWT_MESSAGES.noEmail);
  return email;
}

/**
 * Zulip's `authenticate(username=email, realm=realm, use_dummy_backend=True)` and the §1 failure
 * table. Latchkey also counts the attempt in the account's login throttle (one budget with its
 * password logins), as every other login is: a success clears it, so only repeated failures for
 * one account are ever refused.
 */
export async function loginWithJwt(
  ctx: Context,
  realm: Realm,
  email: unknown,
  onRate: (rate: RateDecision) => void = () => {},
): Promise<User> {
  // A claim that is not a string names no account (Zulip's lookup would fail the same way).
  const username = typeof email === "string" ? email : JSON.stringify(email);
  const throttleKey = loginThrottleKey(ctx, realm, username);
  const rate = await ctx.authLimiter.hit(throttleKey, ctx.authRateRules);
  onRate(rate);
  if (rate.limited) throw rateLimited(rate.secondsToFreedom);
  if (typeof email !== "string" || email.trim() === "") throw authenticationFailed();
  const flags = new Set<AuthFlag>();
  const user = await findActiveUser(ctx, realm, email, flags);
  if (user === null) throw loginFailure(flags);
  await ctx.authLimiter.clear(throttleKey);
  return user;
}
