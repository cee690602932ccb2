/**
 * Which account a login attempt is aimed at, for the login throttle. The budget belongs to the
 * account, not to the spelling typed: every spelling that the account lookups fold together
 * (surrounding space and case for emails; also Unicode compatibility forms and inner runs of
 * space, which LDAP's name matching ignores; and, with LDAP_APPEND_DOMAIN, `alice` and
 * `alice@<domain>`) maps to one identity, so that N spellings do not allow N times the guesses.
 * Zulip keys its throttle on the string as typed; docs/zulip-rules.md §4.5 says why Latchkey
 * does not.
 */
import type { Context } from "./context.js";
import { emailKey, type Realm } from "./model.js";

/**
 * The canonical form of a login name. It starts from the email lookup's own key, so two names
 * the lookup treats as one account always share a budget; the further folding only merges more.
 */
export function canonicalLoginName(username: string): string {
  return emailKey(username).normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/** The throttle key of the account a login for `username` in `realm` is aimed at. */
export function loginThrottleKey(ctx: Context, realm: Realm, username: string): string {
  let name = canonicalLoginName(username);
  // As ldapEnabled (src/domain/login.ts) decides it.
  if (ctx.ldap?.configured === true && realm.authMethods.ldap) name = ctx.ldap.accountName(name);
  return `authenticate_by_account:${realm.id}:${name}`;
}
