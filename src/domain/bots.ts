/**
 * Bots (docs/zulip-rules.md §8) and who may act on them (§7.2): create, list, deactivate, reactivate, show and
 * rotate their keys. Errors are Zulip's own, word for word.
 */
import { ZulipError } from "../errors.js";
import { generateApiKey } from "./api-key.js";
import { type ChangeSource, recordAuditEvent } from "./audit.js";
import type { Context } from "./context.js";
import { isValidEmail } from "./email.js";
import { regenerateApiKey } from "./key-lifecycle.js";
import { BOT_TYPE, isRealmAdmin, ROLE, type User } from "./model.js";
import { type BotUser, DuplicateError } from "./ports.js";
import { pythonStrip } from "./python-text.js";
import { endAccountTrust } from "./sessions.js";

/** Zulip's `Service` interface types: generic, and Slack-compatible outgoing webhooks. */
export const INTERFACE_TYPE = { generic: 1, slack: 2 } as const;

const MAX_NAME_LENGTH = 100;
const MIN_NAME_LENGTH = 2;
const MAX_ID = 2 ** 31 - 1;
const MAX_EMAIL_LENGTH = 254;

/** Zulip's `require_member_or_admin`: people who are not guests. */
export function requireMemberOrAdmin(user: User): void {
  if (user.isBot) throw new ZulipError("This endpoint does not accept bot requests.");
  if (user.role === ROLE.guest) throw new ZulipError("Not allowed for guest users");
}

/** Zulip's `can_admin_user`: the bot's owner, or an administrator of its organization. */
function canAdminUser(requester: User, target: User): boolean {
  if (target.botOwnerId === requester.id) return true;
  return isRealmAdmin(requester) && requester.realmId === target.realmId;
}

/** Zulip's `access_bot_by_id`: the bot, if the requester may manage it. */
export async function accessBotById(ctx: Context, requester: User, botId: number): Promise<User> {
  const target = botId > 0 && botId <= MAX_ID ? await ctx.stores.users.findById(botId) : null;
  if (target === null || !target.isBot || target.realmId !== requester.realmId) throw new ZulipError("No such bot");
  if (!canAdminUser(requester, target)) throw new ZulipError("Insufficient permission");
  return target;
}

/** Zulip's `check_full_name`. */
export function checkFullName(raw: string): string {
  const fullName = pythonStrip(raw);
  const length = [...fullName].length;
  if (length > MAX_NAME_LENGTH) throw new ZulipError("Name too long!");
  if (length < MIN_NAME_LENGTH) throw new ZulipError("Name too short!");
  // Control characters and unpaired surrogates (Unicode categories Cc and Cs).
  if (/\p{Cc}/u.test(fullName) || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(fullName)) {
    throw new ZulipError("Invalid characters in name!");
  }
  // Names ending in `|15` would be ambiguous in mention syntax.
  if (/\|\d+$/.test(raw)) throw new ZulipError("Invalid format!");
  return fullName;
}

export interface NewBot {
  fullName: string;
  shortName: string;
  botType: number;
  payloadUrl: string;
  interfaceType: number;
  defaultAllPublicStreams: boolean;
}

export interface CreatedBot {
  bot: User;
  apiKey: string;
}

/** Zulip's `add_bot_backend`, after its parameters are parsed. */
export async function createBot(
  ctx: Context,
  owner: User,
  spec: NewBot,
  source: ChangeSource,
  /** Checks that run after Zulip's name and type checks (the default channels). */
  lateChecks: () => void = () => {},
): Promise<CreatedBot> {
  requireMemberOrAdmin(owner);
  const shortName = pythonStrip(spec.shortName);
  if (shortName === "") throw new ZulipError("Bad name or username");
  const fullName = checkFullName(spec.fullName);
  const realm = await ctx.stores.realms.findById(owner.realmId);
  if (realm === null) throw new ZulipError("No such bot");
  const email = `${shortName}-bot@${ctx.site.botDomainOf(realm.subdomain)}`;
  if (spec.botType === BOT_TYPE.embedded) throw new ZulipError("Embedded bots are not enabled.");
  // The local part must make an address (the organization's host may not be a public domain),
  // and the whole must fit Zulip's email length.
  if (!isValidEmail(`${shortName}-bot@example.com`) || email.length > MAX_EMAIL_LENGTH) {
    throw new ZulipError("Bad name or username");
  }
  if ((await ctx.stores.users.findByDeliveryEmail(realm.id, email)) !== null) throw new ZulipError("Username already in use");
  if (await ctx.stores.users.activeFullNameExists(realm.id, fullName)) throw new ZulipError("Name is already in use!");
  const allowed: number[] = [BOT_TYPE.generic, BOT_TYPE.incomingWebhook, BOT_TYPE.outgoingWebhook];
  if (!allowed.includes(spec.botType)) throw new ZulipError("Invalid bot type");
  if (!(Object.values(INTERFACE_TYPE) as number[]).includes(spec.interfaceType)) throw new ZulipError("Invalid interface type");
  lateChecks();

  const apiKey = generateApiKey();
  try {
    const bot = await ctx.stores.transaction(async (stores) => {
      const created = await stores.users.create(
        {
          realmId: realm.id,
          email,
          deliveryEmail: email,
          fullName,
          role: ROLE.member,
          isBot: true,
          botType: spec.botType,
          botOwnerId: owner.id,
          passwordHash: null,
          apiKey: ctx.vault.seal(apiKey),
          defaultAllPublicStreams: spec.defaultAllPublicStreams,
        },
        ctx.clock.now(),
      );
      if (spec.botType === BOT_TYPE.outgoingWebhook) {
        await stores.botServices.add(created.id, {
          baseUrl: spec.payloadUrl,
          interface: spec.interfaceType,
          token: ctx.vault.seal(generateApiKey()),
        });
      }
      await recordAuditEvent(ctx, stores, {
        type: "USER_CREATED",
        acting: owner,
        modified: created,
        source,
        extra: { bot_type: spec.botType },
      });
      return created;
    });
    return { bot, apiKey };
  } catch (err) {
    // Two creations of the same bot at once: the second finds the email taken.
    if (err instanceof DuplicateError) throw new ZulipError("Username already in use");
    throw err;
  }
}

/** The requester's active bots with their keys (Zulip's `GET /bots`). */
export async function listOwnBots(ctx: Context, owner: User): Promise<{ bot: BotUser; apiKey: string }[]> {
  const bots = await ctx.stores.users.listBotsOwnedBy(owner.id);
  const out: { bot: BotUser; apiKey: string }[] = [];
  for (const bot of bots) out.push({ bot, apiKey: await revealKey(ctx, bot.id) });
  return out;
}

async function revealKey(ctx: Context, userId: number): Promise<string> {
  const sealed = await ctx.stores.users.getSealedApiKey(userId);
  if (sealed === null) throw new ZulipError("No such bot");
  return ctx.vault.unseal(sealed);
}

/** `GET /bots/{id}/api_key`. */
export async function revealBotKey(ctx: Context, requester: User, botId: number): Promise<string> {
  requireMemberOrAdmin(requester);
  const bot = await accessBotById(ctx, requester, botId);
  return revealKey(ctx, bot.id);
}

/** `POST /bots/{id}/api_key/regenerate`. */
export async function regenerateBotKey(ctx: Context, requester: User, botId: number, source: ChangeSource): Promise<string> {
  requireMemberOrAdmin(requester);
  const bot = await accessBotById(ctx, requester, botId);
  return (await regenerateApiKey(ctx, { user: bot, acting: requester, source })) as string;
}

/** Marks an account active or not, with its audit event; deactivating a person takes their bots too. */
export async function changeActivation(
  ctx: Context,
  target: User,
  active: boolean,
  acting: User | null,
  source: ChangeSource,
): Promise<void> {
  const changed = await ctx.stores.transaction(async (stores) => {
    const users: User[] = [target];
    if (!active && !target.isBot) users.push(...(await stores.users.listBotsOwnedBy(target.id)));
    for (const user of users) {
      if (user.isActive === active) continue;
      await stores.users.update(user.id, { isActive: active });
      if (!active) await endAccountTrust(stores, user.id);
      await recordAuditEvent(ctx, stores, {
        type: active ? "USER_REACTIVATED" : "USER_DEACTIVATED",
        acting,
        modified: user,
        source,
      });
    }
    return users;
  });
  for (const user of changed) ctx.keyCache.invalidate({ kind: "user", userId: user.id });
}

/** `DELETE /bots/{id}`: the owner or an administrator deactivates a bot. */
export async function deactivateBot(ctx: Context, requester: User, botId: number, source: ChangeSource): Promise<void> {
  const bot = await accessBotById(ctx, requester, botId);
  await changeActivation(ctx, bot, false, requester, source);
}

/**
 * `POST /users/{id}/reactivate`, Zulip's `reactivate_user_backend`: `access_user_by_id(...,
 * for_admin=True)`, so an administrator of the organization, or the owner of the bot being
 * reactivated; anyone else gets "Insufficient permission".
 */
export async function reactivateUser(ctx: Context, requester: User, userId: number, source: ChangeSource): Promise<void> {
  const target = userId > 0 && userId <= MAX_ID ? await ctx.stores.users.findById(userId) : null;
  if (target === null || target.realmId !== requester.realmId) throw new ZulipError("No such user");
  if (!canAdminUser(requester, target)) throw new ZulipError("Insufficient permission");
  // check_bot_creation_policy: whoever brings a bot back must be allowed to have one.
  if (target.isBot) requireMemberOrAdmin(requester);
  await reactivateAccount(ctx, target, requester, source);
}

/**
 * Reactivates an account once the requester may do so (an administrator from the API, or the
 * administration command with `acting` null).
 */
export async function reactivateAccount(ctx: Context, target: User, acting: User | null, source: ChangeSource): Promise<void> {
  // Zulip's `check_bot_name_available(..., is_activation=True)`: any active account with the
  // bot's name blocks it, the bot itself included when it is already active.
  if (target.isBot && (await ctx.stores.users.activeFullNameExists(target.realmId, target.fullName))) {
    throw new ZulipError(
      `There is already an active bot named "${target.fullName}" in this organization. To reactivate this bot, you must rename or deactivate the other one first.`,
    );
  }
  if (target.isActive) return;
  await changeActivation(ctx, target, true, acting, source);
}
