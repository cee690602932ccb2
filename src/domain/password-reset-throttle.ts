/**
 * Zulip's `password_reset_form_by_email` limit (default 2 per hour and 5 per day per address),
 * for the password-reset page to call before it sends an email.
 */
import { rateLimited } from "../errors.js";
import type { Context } from "./context.js";
import { emailKey } from "./model.js";
import type { RateDecision } from "./rate-limiter.js";

/**
 * Counts one reset email to `email` and returns the decision; throws Zulip's 429
 * (`RATE_LIMIT_HIT`, with `retry-after`) when the address has had its share, and 503 when the
 * shared store is down (reset emails fail closed). Unlike Zulip, the address is compared
 * case-insensitively, so case variants of one inbox share one budget.
 *
 * Call it whether or not an account has the address, so the answer does not reveal which do.
 */
export async function limitPasswordResetEmail(ctx: Context, email: string): Promise<RateDecision> {
  const { limiter, rules } = ctx.limits.passwordReset;
  const decision = await limiter.hit(`password_reset_form_by_email:${emailKey(email)}`, rules);
  if (decision.limited) throw rateLimited(decision.secondsToFreedom);
  return decision;
}
