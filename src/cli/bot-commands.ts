/**
 * `latchkey bot ...`: create, list, deactivate and reactivate bots, regenerate a bot's key and
 * print its zuliprc, with the rules the API applies (docs/zulip-rules.md §7.2, §7.3, §8). The
 * administrator at the command line acts for the organization: audit events name no acting
 * user and the client `latchkey-cli`.
 */
import { type Command, Option } from "commander";
import { requireRealm, requireUser } from "../domain/accounts.js";
import { CLI_SOURCE } from "../domain/audit.js";
import { changeActivation, createBot, INTERFACE_TYPE, reactivateAccount } from "../domain/bots.js";
import type { Context } from "../domain/context.js";
import { regenerateApiKey } from "../domain/key-lifecycle.js";
import { BOT_TYPE, type Realm, ROLE, type User } from "../domain/model.js";
import { zuliprcFor } from "../domain/zuliprc.js";
import { CliError, type CommandOptions, jsonOption, printJson, userJson } from "./command-kit.js";

/** Bot types as the command line names them. */
const BOT_TYPE_NAMES = {
  generic: BOT_TYPE.generic,
  "incoming-webhook": BOT_TYPE.incomingWebhook,
  "outgoing-webhook": BOT_TYPE.outgoingWebhook,
} as const;
type BotTypeName = keyof typeof BOT_TYPE_NAMES;

function botTypeName(botType: number | null): string {
  if (botType === BOT_TYPE.embedded) return "embedded";
  return Object.entries(BOT_TYPE_NAMES).find(([, value]) => value === botType)?.[0] ?? String(botType);
}

/** The bot with this email in the organization, or a one-line error. */
async function requireBot(ctx: Context, realm: Realm, email: string): Promise<User> {
  const bot = await requireUser(ctx, realm, email);
  if (!bot.isBot) throw new CliError(`${bot.deliveryEmail} is not a bot`);
  return bot;
}

/** Who may own a bot: Zulip's `require_member_or_admin`, and an account that can log in. */
async function requireOwner(ctx: Context, realm: Realm, email: string): Promise<User> {
  const owner = await requireUser(ctx, realm, email);
  if (owner.isBot) throw new CliError(`${owner.deliveryEmail} is a bot, and bots cannot own bots`);
  if (owner.role === ROLE.guest) throw new CliError(`${owner.deliveryEmail} is a guest, and guests cannot own bots`);
  if (!owner.isActive) throw new CliError(`${owner.deliveryEmail} is deactivated`);
  return owner;
}

export function registerBotCommands(program: Command, { withContext, devOption, realmOption }: CommandOptions): void {
  const bot = program.command("bot").description("manage bots: create, list, keys, zuliprc, deactivate, reactivate");

  bot
    .command("create")
    .description("create a bot owned by an account, and print its email and API key")
    .requiredOption("--owner <email>", "the email of the account that will own the bot")
    .requiredOption("--name <full name>", "the bot's full name")
    .requiredOption("--short-name <name>", "the bot's email is <name>-bot@<the organization's bot domain>")
    .addOption(new Option("--type <type>", "the bot's type").choices(Object.keys(BOT_TYPE_NAMES)).default("generic"))
    .option("--payload-url <url>", "where an outgoing-webhook bot sends its requests")
    .addOption(
      new Option("--interface <format>", "an outgoing-webhook bot's request format")
        .choices(["generic", "slack"])
        .default("generic"),
    )
    .addOption(realmOption)
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const botType = BOT_TYPE_NAMES[opts.type as BotTypeName];
        const payloadUrl: string = opts.payloadUrl ?? "";
        if (botType === BOT_TYPE.outgoingWebhook && payloadUrl === "") {
          throw new CliError("an outgoing-webhook bot needs --payload-url");
        }
        if (payloadUrl !== "" && !URL.canParse(payloadUrl)) throw new CliError(`--payload-url ${payloadUrl} is not a URL`);
        const realm = await requireRealm(ctx, opts.realm);
        const owner = await requireOwner(ctx, realm, opts.owner);
        const { bot: created, apiKey } = await createBot(
          ctx,
          owner,
          {
            fullName: opts.name,
            shortName: opts.shortName,
            botType,
            payloadUrl,
            interfaceType: INTERFACE_TYPE[opts.interface as keyof typeof INTERFACE_TYPE],
            defaultAllPublicStreams: false,
          },
          CLI_SOURCE,
        );
        if (opts.json) {
          return printJson({
            ...userJson(created),
            bot_type: botTypeName(created.botType),
            owner: owner.deliveryEmail,
            api_key: apiKey,
          });
        }
        console.log(
          `Created bot ${created.deliveryEmail} (user id ${created.id}) owned by ${owner.deliveryEmail}; its API key is ${apiKey}`,
        );
      }),
    );

  bot
    .command("list")
    .description("list an organization's bots, active and deactivated, with their owners")
    .option("--owner <email>", "only the bots this account owns")
    .addOption(realmOption)
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const realm = await requireRealm(ctx, opts.realm);
        const users = await ctx.stores.users.listByRealm(realm.id);
        const ownerId = opts.owner === undefined ? undefined : (await requireUser(ctx, realm, opts.owner)).id;
        const emails = new Map(users.map((u) => [u.id, u.deliveryEmail]));
        const bots = users.filter((u) => u.isBot && (ownerId === undefined || u.botOwnerId === ownerId));
        const ownerOf = (b: User) => (b.botOwnerId === null ? null : (emails.get(b.botOwnerId) ?? `user ${b.botOwnerId}`));
        if (opts.json) {
          return printJson(bots.map((b) => ({ ...userJson(b), bot_type: botTypeName(b.botType), owner: ownerOf(b) })));
        }
        for (const b of bots) {
          console.log(
            [
              b.id,
              b.deliveryEmail,
              b.fullName,
              botTypeName(b.botType),
              `owner ${ownerOf(b) ?? "-"}`,
              b.isActive ? "active" : "deactivated",
            ].join("\t"),
          );
        }
      }),
    );

  /** A command on one bot, named by its email: `act` gets the bot and the command's options. */
  const onBot = (
    name: string,
    description: string,
    json: boolean,
    act: (ctx: Context, target: User, opts: { json?: boolean }) => Promise<void>,
  ) => {
    const command = bot.command(name).description(description).argument("<email>", "the bot's email").addOption(realmOption);
    if (json) command.addOption(jsonOption);
    command
      .addOption(devOption)
      .action(async (email: string, opts) =>
        withContext(opts, async (ctx) => act(ctx, await requireBot(ctx, await requireRealm(ctx, opts.realm), email), opts)),
      );
  };

  onBot(
    "regenerate-key",
    "give a bot a new API key: the old one stops working at once, and the change is audited",
    true,
    async (ctx, target, opts) => {
      const apiKey = (await regenerateApiKey(ctx, { user: target, acting: null, source: CLI_SOURCE })) as string;
      if (opts.json) return printJson({ user_id: target.id, email: target.deliveryEmail, api_key: apiKey });
      console.log(`New API key for ${target.deliveryEmail}: ${apiKey} (the old key no longer works)`);
    },
  );

  onBot(
    "zuliprc",
    "print a bot's zuliprc (email, API key, site; token for outgoing-webhook bots)",
    false,
    async (ctx, target) => {
      // The file ends with its own newline.
      process.stdout.write(await zuliprcFor(ctx, target));
    },
  );

  onBot("deactivate", "deactivate a bot: its key stops working", false, async (ctx, target) => {
    await changeActivation(ctx, target, false, null, CLI_SOURCE);
    console.log(`${target.deliveryEmail} is now deactivated.`);
  });

  onBot(
    "reactivate",
    "reactivate a bot, with the key it had (refused while an active account has its name)",
    false,
    async (ctx, target) => {
      if (target.isActive) {
        console.log(`${target.deliveryEmail} is already active.`);
        return;
      }
      await reactivateAccount(ctx, target, null, CLI_SOURCE);
      console.log(`${target.deliveryEmail} is now active.`);
    },
  );
}
