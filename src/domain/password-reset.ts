/**
 * Password reset: an emailed one-time link that expires, a new password that meets Zulip's
 * rules, and the login throttle cleared on change. Users without a password set their first
 * one this way.
 */

import { setPassword } from "./accounts.js";
import type { Context } from "./context.js";
import { isValidEmail } from "./email.js";
import { emailBelongsToLdap } from "./login.js";
import type { Realm, User } from "./model.js";
import { consumeOneTimeToken, peekOneTimeToken, storeOneTimeToken } from "./one-time-tokens.js";
import { passwordProblem } from "./password-policy.js";
import { limitPasswordResetEmail } from "./password-reset-throttle.js";
import { newSecret } from "./sessions.js";

/** How long a reset link works. */
export const PASSWORD_RESET_LINK_MS = 24 * 3600 * 1000;

export interface ResetLinks {
  realmUrl: string;
  /** The page a token opens, under the organization's URL. */
  linkFor(token: string): string;
}

/**
 * Sends the reset email for `email` in `realm`: a link when an active person has that address
 * there, otherwise a note that no account exists (as Zulip does), so that the page's answer is
 * the same for every address. Throws 429 when the address has had its share of emails.
 */
export async function requestPasswordReset(ctx: Context, realm: Realm, email: string, links: ResetLinks): Promise<void> {
  const address = email.trim();
  if (!isValidEmail(address)) return;
  // Zulip's ZulipPasswordResetForm: an address the directory manages gets no email at all (its
  // password lives in the directory), and the page says what it says for any address.
  if ((await emailBelongsToLdap(ctx, realm, address)) !== false) {
    ctx.log.info({ realm: realm.subdomain }, "password reset not allowed for an address managed by LDAP");
    return;
  }
  await limitPasswordResetEmail(ctx, address);
  const user = await ctx.stores.users.findByDeliveryEmail(realm.id, address);
  if (user === null || !user.isActive || user.isBot || realm.deactivated) {
    await ctx.mailer.send({
      to: address,
      subject: `Password reset request for ${realm.name}`,
      text: [
        `Someone (possibly you) requested a password reset email for ${address} on ${links.realmUrl},`,
        "but you do not have an active account there.",
        "",
        "If you did not request this, you can ignore this email.",
        "",
      ].join("\n"),
    });
    return;
  }
  const token = newSecret();
  await storeOneTimeToken(ctx, token, "password_reset", user.id, PASSWORD_RESET_LINK_MS);
  await ctx.mailer.send({
    to: user.deliveryEmail,
    subject: `Reset your password for ${realm.name}`,
    text: [
      `Hello ${user.fullName},`,
      "",
      `Someone (possibly you) asked to reset the password of your account ${user.deliveryEmail} on ${links.realmUrl}.`,
      "To choose a new password, open this link (it works once, for the next 24 hours):",
      "",
      links.linkFor(token),
      "",
      "If you did not ask for this, you can ignore this email; your password stays as it is.",
      "",
    ].join("\n"),
  });
}

/** The account a reset link belongs to, while it is unused and unexpired. */
export async function userForResetToken(ctx: Context, token: string): Promise<User | null> {
  const found = await peekOneTimeToken(ctx, token, "password_reset");
  if (found === null) return null;
  const user = await ctx.stores.users.findById(found.userId);
  return user?.isActive ? user : null;
}

export type ResetOutcome = { ok: true; user: User } | { ok: false; problem: string };

export const RESET_LINK_INVALID = "This password reset link is invalid or has expired. Please request a new one.";

/**
 * Sets the new password from a reset link: checks it, uses the link up, stores the hash, clears
 * the login throttle, and ends the account's web sessions and other reset links.
 */
export async function completePasswordReset(
  ctx: Context,
  token: string,
  password: string,
  confirmation: string,
): Promise<ResetOutcome> {
  const user = await userForResetToken(ctx, token);
  if (user === null) return { ok: false, problem: RESET_LINK_INVALID };
  if (password !== confirmation) return { ok: false, problem: "The two password fields didn't match." };
  const problem = passwordProblem(password);
  if (problem !== null) return { ok: false, problem };
  const used = await consumeOneTimeToken(ctx, token, "password_reset");
  if (used === null) return { ok: false, problem: RESET_LINK_INVALID };
  // Ends every session, reset link and desktop token of the account too.
  await setPassword(ctx, user, password);
  return { ok: true, user };
}
