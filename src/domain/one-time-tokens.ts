/**
 * One-time tokens (password-reset links, the desktop app's login token): the token goes to the
 * user, the store keeps only its SHA-256, and each is good for one use before it expires.
 */
import type { Context } from "./context.js";
import { hashSecret } from "./sessions.js";
import type { OneTimeToken, OneTimeTokenKind } from "./web-ports.js";

/** Longer tokens are refused unhashed: none this server issues comes near. */
const MAX_TOKEN_LENGTH = 100;

/** Stores `token` for `userId`, good for `lifetimeMs` from now. */
export async function storeOneTimeToken(
  ctx: Context,
  token: string,
  kind: OneTimeTokenKind,
  userId: number,
  lifetimeMs: number,
): Promise<void> {
  const now = ctx.clock.now();
  await ctx.stores.oneTimeTokens.create({
    tokenHash: hashSecret(token),
    kind,
    userId,
    createdAt: now,
    expiresAt: now + lifetimeMs,
  });
}

function usable(token: string): boolean {
  return token.length > 0 && token.length <= MAX_TOKEN_LENGTH;
}

/** The unused, unexpired token of this kind, left in place; null otherwise. */
export async function peekOneTimeToken(ctx: Context, token: string, kind: OneTimeTokenKind): Promise<OneTimeToken | null> {
  return usable(token) ? ctx.stores.oneTimeTokens.peek(hashSecret(token), kind, ctx.clock.now()) : null;
}

/** Uses the token up: it is returned once, while unexpired, and never again. */
export async function consumeOneTimeToken(ctx: Context, token: string, kind: OneTimeTokenKind): Promise<OneTimeToken | null> {
  return usable(token) ? ctx.stores.oneTimeTokens.consume(hashSecret(token), kind, ctx.clock.now()) : null;
}
