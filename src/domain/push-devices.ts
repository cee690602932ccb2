/** Push device registration, Zulip's legacy token API (docs/zulip-rules.md §11). */
import { ZulipError } from "../errors.js";
import type { Context } from "./context.js";
import type { User } from "./model.js";
import { PUSH_KIND } from "./ports.js";

export type PushKind = keyof typeof PUSH_KIND;

const MAX_TOKEN_LENGTH = 4096;
const BASE64_CHAR = /[A-Za-z0-9+/]/;

/** Python's non-validating `b64decode` accepts it (what Zulip's `b64_to_hex` needs). */
function decodesAsBase64(text: string): boolean {
  let data = 0;
  let padding = 0;
  for (const ch of text) {
    if (ch === "=") padding++;
    else if (BASE64_CHAR.test(ch)) data++;
  }
  const rest = data % 4;
  return rest !== 1 && (rest === 0 || padding >= 4 - rest);
}

/** Zulip's `validate_token`. */
export function validatePushToken(token: string, kind: PushKind): void {
  // A NUL can be in no real token, and PostgreSQL cannot store one.
  if (token === "" || token.length > MAX_TOKEN_LENGTH || token.includes("\u0000"))
    throw new ZulipError("Empty or invalid length token");
  if (kind === "apns" && !decodesAsBase64(token)) throw new ZulipError("Invalid APNS token");
}

/** Zulip's `human_users_only`. */
export function requireHuman(user: User): void {
  if (user.isBot) throw new ZulipError("This endpoint does not accept bot requests.");
}

export async function addPushToken(ctx: Context, user: User, kind: PushKind, token: string, appId: string | null): Promise<void> {
  validatePushToken(token, kind);
  await ctx.stores.pushDevices.add(user.id, PUSH_KIND[kind], token, appId, ctx.clock.now());
}

export async function removePushToken(ctx: Context, user: User, kind: PushKind, token: string): Promise<void> {
  validatePushToken(token, kind);
  if (!(await ctx.stores.pushDevices.remove(user.id, PUSH_KIND[kind], token))) throw new ZulipError("Token does not exist");
}
