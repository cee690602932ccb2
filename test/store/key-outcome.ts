/** What a node answers for a key, for the tests of cross-node key-cache invalidation. */
import type { Context } from "../../src/domain/context.js";
import { verifyApiKey } from "../../src/domain/verify-api-key.js";
import { ZulipError } from "../../src/errors.js";

/** "ok", or the message of Zulip's error for `apiKey` used by `username`. */
export async function keyOutcome(ctx: Context, apiKey: string, username: string): Promise<string> {
  try {
    await verifyApiKey(ctx, { username, apiKey, subdomain: "" });
    return "ok";
  } catch (err) {
    if (err instanceof ZulipError) return err.message;
    throw err;
  }
}

/** Polls until `ctx` gives `expected` for the key; bounded in count (200 tries, 10 ms apart). */
export async function eventually(ctx: Context, apiKey: string, username: string, expected: string): Promise<string> {
  let outcome = "";
  for (let i = 0; i < 200; i++) {
    outcome = await keyOutcome(ctx, apiKey, username);
    if (outcome === expected) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return outcome;
}
