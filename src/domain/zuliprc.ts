/**
 * The zuliprc file (docs/zulip-rules.md §9): what the web app offers for download and the CLI prints, and
 * what the Python bindings, zulip-js and the terminal app read.
 */
import type { Context } from "./context.js";
import { BOT_TYPE, type User } from "./model.js";

export interface ZuliprcFields {
  /** The account's email: the real (delivery) email for people, the bot's email for bots. */
  email: string;
  apiKey: string;
  /** The organization's URL, e.g. `https://chat.example.com`. */
  site: string;
  /** The outgoing-webhook bot's service token; only those bots get a `token=` line. */
  token?: string | null;
}

/**
 * Renders `[api]` with `email`, `key`, `site` (and `token` for outgoing-webhook bots), one
 * `name=value` per line, no spaces around `=`, ending with a newline: byte for byte what
 * Zulip's web app generates.
 */
export function renderZuliprc(fields: ZuliprcFields, section = "api"): string {
  for (const [name, value] of Object.entries(fields)) {
    // A newline inside a value would let it inject another key into the file.
    if (typeof value === "string" && /[\r\n]/.test(value)) throw new Error(`zuliprc ${name} contains a line break`);
  }
  let text = `[${section}]\nemail=${fields.email}\nkey=${fields.apiKey}\nsite=${fields.site}\n`;
  if (fields.token) text += `token=${fields.token}\n`;
  return text;
}

/** The download Zulip's web app offers: a `data:` URL named `zuliprc`. */
export function zuliprcDataUrl(text: string): string {
  return `data:application/octet-stream;charset=utf-8,${encodeURIComponent(text)}`;
}

/**
 * The zuliprc of an account: its email (the real one for people, the bot's for bots), its
 * current key, its organization's URL, and for outgoing-webhook bots the service token.
 */
export async function zuliprcFor(ctx: Context, user: User): Promise<string> {
  const realm = await ctx.stores.realms.findById(user.realmId);
  if (realm === null) throw new Error(`user ${user.id} has no organization`);
  const sealed = await ctx.stores.users.getSealedApiKey(user.id);
  if (sealed === null) throw new Error(`user ${user.id} does not exist`);
  let token: string | null = null;
  if (user.isBot && user.botType === BOT_TYPE.outgoingWebhook) {
    const service = await ctx.stores.botServices.find(user.id);
    if (service !== null) token = ctx.vault.unseal(service.token);
  }
  return renderZuliprc({
    email: user.deliveryEmail,
    apiKey: ctx.vault.unseal(sealed),
    site: ctx.site.urlOf(realm.subdomain),
    token,
  });
}
