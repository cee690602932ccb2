/**
 * Web sessions: a random id in an HttpOnly cookie; the database keeps only its SHA-256, so a
 * copy of the database cannot be replayed as a session.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Context } from "./context.js";
import type { Realm, User } from "./model.js";
import type { Stores } from "./ports.js";

/** Django's SESSION_COOKIE_AGE: two weeks. */
export const SESSION_AGE_MS = 14 * 24 * 3600 * 1000;

/** The stored form of a bearer secret (session id, one-time token). */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A fresh bearer secret: 32 random bytes, base64url. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Starts a session for `user`; returns the id for the cookie. */
export async function startSession(ctx: Context, user: User): Promise<string> {
  const id = newSecret();
  const now = ctx.clock.now();
  await ctx.stores.sessions.create({ idHash: hashSecret(id), userId: user.id, createdAt: now, expiresAt: now + SESSION_AGE_MS });
  // Expired rows are swept now and then, on the way in.
  if (Math.random() < 0.01) await ctx.stores.sessions.deleteExpired(now);
  return id;
}

export interface ResolvedSession {
  idHash: string;
  user: User;
  realm: Realm;
}

/** The unexpired session a cookie names, with its user and organization (active or not). */
export async function resolveSession(ctx: Context, id: string): Promise<ResolvedSession | null> {
  if (id.length === 0 || id.length > 100) return null;
  const idHash = hashSecret(id);
  const session = await ctx.stores.sessions.find(idHash);
  if (session === null) return null;
  if (session.expiresAt <= ctx.clock.now()) {
    await ctx.stores.sessions.delete(idHash);
    return null;
  }
  const user = await ctx.stores.users.findById(session.userId);
  if (user === null) return null;
  const realm = await ctx.stores.realms.findById(user.realmId);
  if (realm === null) return null;
  return { idHash, user, realm };
}

export async function endSession(ctx: Context, idHash: string): Promise<void> {
  await ctx.stores.sessions.delete(idHash);
}

/**
 * Ends what trust in an account gave out: its web sessions (but the one named by
 * `keepSessionIdHash`, the browser that made the change), its password reset links and its
 * desktop login tokens. Run when the password is set and when the account is deactivated;
 * reactivation brings none of them back. API keys are not touched (regenerating a key is their
 * own end), and regenerating a key ends no session, as in Zulip.
 */
export async function endAccountTrust(stores: Stores, userId: number, keepSessionIdHash?: string): Promise<void> {
  await stores.sessions.deleteForUser(userId, keepSessionIdHash);
  await stores.oneTimeTokens.deleteForUser(userId);
}

/** The same for every account of an organization, when the organization is deactivated. */
export async function endRealmTrust(stores: Stores, realmId: number): Promise<void> {
  await stores.sessions.deleteForRealm(realmId);
  await stores.oneTimeTokens.deleteForRealm(realmId);
}
