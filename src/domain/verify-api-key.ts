/**
 * Checking an API key (docs/zulip-rules.md §5.3 `validate_api_key`). Errors carry Zulip's own codes; the HTTP
 * layer rewraps them as 401 UNAUTHORIZED for Basic auth, as Zulip's
 * `authenticated_rest_api_view` does.
 */
import { invalidApiKey, MESSAGES, realmDeactivated, userDeactivated, wrongSubdomain, ZulipError } from "../errors.js";
import { hasApiKeyFormat } from "./api-key.js";
import type { Context } from "./context.js";
import { makePrincipal, type Principal } from "./key-cache.js";
import { BOT_TYPE } from "./model.js";
import { pythonStrip } from "./python-text.js";

export interface KeyCheck {
  /**
   * The Basic-auth username (Zulip's `role`): the account's email. Null for webhook
   * `?api_key=` URLs, which skip the email check.
   */
  username: string | null;
  apiKey: string;
  /** The key's lookup digest, when the caller already computed it (and checked the key's format). */
  digest?: string;
  /** `username` as it is compared (trimmed, lower-cased), when the caller already computed it. */
  usernameKey?: string;
  /** The subdomain of the request's host. */
  subdomain: string;
  /** Whether the endpoint is a webhook (incoming-webhook bots may use only those). */
  allowWebhookAccess?: boolean;
}

async function loadPrincipal(ctx: Context, digest: string): Promise<Principal | null> {
  const epoch = ctx.keyCache.epoch;
  const user = await ctx.stores.users.findByApiKeyDigest(digest);
  if (user === null) return null;
  const realm = await ctx.stores.realms.findById(user.realmId);
  if (realm === null) return null;
  const principal = makePrincipal(user, realm);
  ctx.keyCache.set(digest, principal, epoch);
  return principal;
}

/** The checks of §5.3 on the principal a key digest names (null: no such key). */
function admit(principal: Principal | null, check: KeyCheck): Principal {
  if (principal === null) throw invalidApiKey(false);
  const { user, realm } = principal;
  if (check.username !== null && (check.usernameKey ?? pythonStrip(check.username).toLowerCase()) !== principal.emailKey) {
    throw invalidApiKey(false);
  }
  if (realm.deactivated) throw realmDeactivated();
  if (!user.isActive) throw userDeactivated();
  if (realm.subdomain !== check.subdomain) throw wrongSubdomain();
  if (user.botType === BOT_TYPE.incomingWebhook && check.allowWebhookAccess !== true) {
    throw new ZulipError(MESSAGES.webhookBotNotAllowed);
  }
  return principal;
}

function digestOf(ctx: Context, check: KeyCheck): string {
  if (check.digest !== undefined) return check.digest;
  const apiKey = pythonStrip(check.apiKey);
  if (!hasApiKeyFormat(apiKey)) throw invalidApiKey(true);
  return ctx.vault.digest(apiKey);
}

/**
 * The answer `verifyApiKey` would give, decided without waiting when the key cache holds the
 * digest: the principal, or Zulip's error thrown. Returns undefined when the store must be asked.
 */
export function verifyCachedApiKey(ctx: Context, check: KeyCheck): Principal | undefined {
  const cached = ctx.keyCache.get(digestOf(ctx, check));
  return cached === undefined ? undefined : admit(cached, check);
}

/** `verifyApiKey` once the cache has been asked and had no answer (`verifyCachedApiKey` returned undefined). */
export async function verifyStoredApiKey(ctx: Context, check: KeyCheck): Promise<Principal> {
  return admit(await loadPrincipal(ctx, digestOf(ctx, check)), check);
}

/** Returns who the key authenticates, or throws the error Zulip gives for it. */
export async function verifyApiKey(ctx: Context, check: KeyCheck): Promise<Principal> {
  const digest = digestOf(ctx, check);
  return admit(ctx.keyCache.get(digest) ?? (await loadPrincipal(ctx, digest)), check);
}
