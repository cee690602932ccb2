/**
 * Regenerating an API key (docs/zulip-rules.md §7.3 `do_regenerate_api_key`): a new key, the old one refused at
 * once everywhere, the user's push tokens removed (which logs the mobile apps out) and an
 * audit event, all in one transaction.
 */

import { generateApiKey } from "./api-key.js";
import { type ChangeSource, recordAuditEvent } from "./audit.js";
import type { Context } from "./context.js";
import type { User } from "./model.js";

export interface Regeneration {
  user: User;
  /** Who asked for it; null for the administration command. */
  acting: User | null;
  source: ChangeSource;
  /**
   * The digest of the key that authorized the change, when it was the user's own key: the key
   * is replaced only if it is still that one, so that of two regenerations sent with the same
   * key exactly one succeeds.
   */
  expectedDigest?: string;
}

/** Returns the new key, or null when `expectedDigest` no longer names the user's key. */
export async function regenerateApiKey(ctx: Context, change: Regeneration): Promise<string | null> {
  const apiKey = generateApiKey();
  const sealed = ctx.vault.seal(apiKey);
  const userId = change.user.id;
  const done = await ctx.stores.transaction(async (stores) => {
    const replaced = await stores.users.replaceApiKey(userId, sealed, change.expectedDigest);
    if (!replaced) return false;
    await stores.pushDevices.removeAll(userId);
    await stores.keyUses.forgetOthers(userId, sealed.digest);
    await recordAuditEvent(ctx, stores, {
      type: "USER_API_KEY_CHANGED",
      acting: change.acting,
      modified: change.user,
      source: change.source,
    });
    // Dropped before the commit too, so that no request answered after the commit can have
    // found the old key cached; the invalidation after the commit catches lookups in between.
    ctx.keyCache.invalidate({ kind: "user", userId });
    return true;
  });
  ctx.keyCache.invalidate({ kind: "user", userId });
  return done ? apiKey : null;
}
