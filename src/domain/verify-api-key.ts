/**
 * Checking an API key (§5.3 `validate_api_key`). Errors carry Zulip's own codes; the HTTP
 * layer rewraps them as 401 UNAUTHORIZED for Basic auth, as Zulip's
 * `authenticated_rest_api_view` does.
 */
import { MESSAGES, ZulipError } from "../errors.js";
import { hasApiKeyFormat } from "./api-key.js";
import type { Context } from "./context.js";
import type { Principal } from "./key-cache.js";
import { BOT_TYPE } from "./model.js";

export interface KeyCheck {
  /** The Basic-auth username; null for webhook `?api_key=` URLs, which skip the email check. */
  role: string | null;
  apiKey: string;
  /** The key's lookup digest, when the caller already computed it. */
  digest?: string;
  /** The subdomain of the request's host. */
  subdomain: string;
  /** Whether the endpoint is a webhook (incoming-webhook bots may use only those). */
  allowWebhookAccess?: boolean;
}

async function lookUpPrincipal(ctx: Context, digest: string): Promise<Principal | null> {
  const cached = ctx.keyCache.get(digest);
  if (cached !== undefined) return cached;
  const user = await ctx.stores.users.findByApiKeyDigest(digest);
  if (user === null) return null;
  const realm = await ctx.stores.realms.findById(user.realmId);
  if (realm === null) return null;
  const principal = { user, realm };
  ctx.keyCache.set(digest, principal);
  return principal;
}

/** Returns who the key authenticates, or throws the error Zulip gives for it. */
export async function verifyApiKey(ctx: Context, check: KeyCheck): Promise<Principal> {
  const apiKey = check.apiKey.trim();
  if (!hasApiKeyFormat(apiKey)) throw new ZulipError(MESSAGES.malformedApiKey, { status: 401, code: "INVALID_API_KEY" });
  const principal = await lookUpPrincipal(ctx, check.digest ?? ctx.vault.digest(apiKey));
  const invalid = () => new ZulipError(MESSAGES.invalidApiKey, { status: 401, code: "INVALID_API_KEY" });
  if (principal === null) throw invalid();
  const { user, realm } = principal;
  if (check.role !== null && check.role.trim().toLowerCase() !== user.deliveryEmail.toLowerCase()) throw invalid();
  if (realm.deactivated) throw new ZulipError(MESSAGES.realmDeactivated, { status: 401, code: "REALM_DEACTIVATED" });
  if (!user.isActive) throw new ZulipError(MESSAGES.userDeactivated, { status: 401, code: "USER_DEACTIVATED" });
  if (realm.subdomain !== check.subdomain) throw new ZulipError(MESSAGES.wrongSubdomain);
  if (user.botType === BOT_TYPE.incomingWebhook && check.allowWebhookAccess !== true) {
    throw new ZulipError(MESSAGES.webhookBotNotAllowed);
  }
  return principal;
}
