/**
 * Bots (docs/zulip-rules.md §8) and their keys (§7.2, §7.5). `registerBotRoutes` mounts the same handlers under any
 * prefix with any authenticator: `/api/v1` with Basic auth here, `/json` with a session in the
 * web app.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../../config.js";
import {
  createBot,
  deactivateBot,
  INTERFACE_TYPE,
  listOwnBots,
  reactivateUser,
  regenerateBotKey,
  requireMemberOrAdmin,
  revealBotKey,
} from "../../domain/bots.js";
import type { Context } from "../../domain/context.js";
import type { Principal } from "../../domain/key-cache.js";
import { BOT_TYPE } from "../../domain/model.js";
import { ZulipError } from "../../errors.js";
import { changeSource } from "../client-name.js";
import { registerEndpoint } from "../endpoint.js";
import { readJsonBool, readJsonInt, readJsonString, readJsonStringDict } from "../json-params.js";
import { readParam, requireParam } from "../params.js";
import { avatarUrl } from "../presentation.js";
import { successSchema } from "../schemas.js";
import { apiKeySchema } from "./key-lifecycle.js";

export interface BotRoutesOptions {
  ctx: Context;
  config: Config;
  /** `/api/v1` or `/json`. */
  prefix: string;
  /** Sets `request.principal` or throws Zulip's error. */
  authenticate: (request: FastifyRequest) => void | Promise<void>;
}

const nullableString = { type: ["string", "null"] };

const createdSchema = successSchema(
  {
    user_id: { type: "integer" },
    api_key: { type: "string" },
    avatar_url: { type: "string" },
    default_sending_stream: nullableString,
    default_events_register_stream: nullableString,
    default_all_public_streams: { type: "boolean" },
  },
  ["user_id", "api_key"],
);

const listSchema = successSchema(
  {
    bots: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        properties: {
          username: { type: "string" },
          full_name: { type: "string" },
          api_key: { type: "string" },
          avatar_url: { type: "string" },
          default_sending_stream: nullableString,
          default_events_register_stream: nullableString,
          default_all_public_streams: { type: "boolean" },
        },
      },
    },
  },
  ["bots"],
);

const emptySuccess = successSchema({});

// Ids in paths are digits, as in Zulip's URL patterns; anything else is an unknown path (404).
const ID = "(^\\d+$)";

function principalOf(request: FastifyRequest): Principal {
  return request.principal as Principal;
}

function idParam(request: FastifyRequest, name: string): number {
  return Number((request.params as Record<string, string>)[name]);
}

/** Latchkey has no channels: any channel named is one that does not exist. */
function refuseChannel(channel: string | undefined): void {
  if (channel !== undefined && channel !== "") throw new ZulipError(`Invalid channel name '${channel}'`);
}

/** The parameters of `POST /bots`, in the order Zulip's view reads them. */
const createParams = {
  full_name: { description: "The bot's name.", required: true },
  short_name: { description: "The local part of the bot's email (`<short_name>-bot@<host>`).", required: true },
  bot_type: {
    description: "1 generic, 2 incoming webhook, 3 outgoing webhook, 4 embedded (JSON integer).",
    schema: { type: "string", examples: ["1"] },
  },
  payload_url: { description: "An outgoing webhook's URL (JSON string).", schema: { type: "string" } },
  service_name: { description: "An embedded bot's service." },
  config_data: { description: "An embedded bot's configuration (JSON object of strings).", schema: { type: "string" } },
  interface_type: { description: "An outgoing webhook's interface (JSON integer).", schema: { type: "string" } },
  default_sending_stream: { description: "A channel; Latchkey has none, so any non-empty name is refused." },
  default_events_register_stream: { description: "A channel; Latchkey has none, so any non-empty name is refused." },
  default_all_public_streams: { description: "JSON boolean.", schema: { type: "string", examples: ["false"] } },
};

export function registerBotRoutes(app: FastifyInstance, { ctx, config, prefix, authenticate }: BotRoutesOptions): void {
  // Zulip's operation ids name the /api/v1 operations; the /json twins have none of their own.
  const api = prefix === "/api/v1";
  const named = (operationId: string) => (api ? { operationId } : {});
  const tags = ["bots"];
  registerEndpoint(app, `${prefix}/bots`, {
    GET: {
      typed: true,
      authenticate,
      doc: { ...named("get-bots"), summary: "List own bots", description: "The bots the user owns, with their keys.", tags },
      schema: { response: { 200: listSchema } },
      handler: async (request) => {
        const requester = principalOf(request).user;
        // Zulip's `get_bots_backend` is `@require_member_or_admin`: bots and guests are refused.
        requireMemberOrAdmin(requester);
        const bots = await listOwnBots(ctx, requester);
        return {
          result: "success",
          msg: "",
          bots: bots.map(({ bot, apiKey }) => ({
            username: bot.email,
            full_name: bot.fullName,
            api_key: apiKey,
            avatar_url: avatarUrl(bot, config.enableGravatar),
            default_sending_stream: null,
            default_events_register_stream: null,
            default_all_public_streams: bot.defaultAllPublicStreams,
          })),
        };
      },
    },
    POST: {
      typed: true,
      authenticate,
      doc: { ...named("create-bot"), summary: "Create a bot", tags, params: createParams },
      schema: { response: { 200: createdSchema } },
      handler: async (request) => {
        const owner = principalOf(request).user;
        requireMemberOrAdmin(owner);
        // Parameters are read in the order Zulip's view declares them, so the first bad one is
        // the one reported.
        const fullName = requireParam(request, "full_name");
        const shortName = requireParam(request, "short_name");
        const botType = readJsonInt(request, "bot_type", BOT_TYPE.generic);
        const payloadUrl = readJsonString(request, "payload_url", "");
        // Zulip validates the URL as it parses the parameter.
        if (payloadUrl !== "" && !URL.canParse(payloadUrl)) throw new ZulipError("payload_url is not a URL");
        readParam(request, "service_name");
        readJsonStringDict(request, "config_data");
        const interfaceType = readJsonInt(request, "interface_type", INTERFACE_TYPE.generic);
        const channels = [readParam(request, "default_sending_stream"), readParam(request, "default_events_register_stream")];
        const defaultAllPublicStreams = readJsonBool(request, "default_all_public_streams") ?? false;
        const { bot, apiKey } = await createBot(
          ctx,
          owner,
          { fullName, shortName, botType, payloadUrl, interfaceType, defaultAllPublicStreams },
          changeSource(request),
          // Channels are looked up after the name and type checks, as in Zulip's view.
          () => {
            for (const channel of channels) refuseChannel(channel);
          },
        );
        return {
          result: "success",
          msg: "",
          user_id: bot.id,
          api_key: apiKey,
          avatar_url: avatarUrl(bot, config.enableGravatar),
          default_sending_stream: null,
          default_events_register_stream: null,
          default_all_public_streams: defaultAllPublicStreams,
        };
      },
    },
  });

  registerEndpoint(app, `${prefix}/bots/:bot_id${ID}`, {
    DELETE: {
      typed: true,
      authenticate,
      doc: { ...named("deactivate-bot"), summary: "Deactivate a bot", tags },
      schema: { response: { 200: emptySuccess } },
      handler: async (request) => {
        await deactivateBot(ctx, principalOf(request).user, idParam(request, "bot_id"), changeSource(request));
        return { result: "success", msg: "" };
      },
    },
  });

  registerEndpoint(app, `${prefix}/bots/:bot_id${ID}/api_key/regenerate`, {
    POST: {
      typed: true,
      authenticate,
      doc: {
        ...named("regenerate-bot-api-key"),
        summary: "Regenerate a bot's API key",
        description: "Replaces the bot's key; the old one stops working at once.",
        tags,
      },
      schema: { response: { 200: apiKeySchema } },
      handler: async (request) => {
        const key = await regenerateBotKey(ctx, principalOf(request).user, idParam(request, "bot_id"), changeSource(request));
        return { result: "success", msg: "", api_key: key };
      },
    },
  });

  registerEndpoint(app, `${prefix}/bots/:bot_id${ID}/api_key`, {
    GET: {
      typed: true,
      authenticate,
      doc: { ...named("get-bot-api-key"), summary: "Get a bot's API key", tags },
      schema: { response: { 200: apiKeySchema } },
      handler: async (request) => {
        const key = await revealBotKey(ctx, principalOf(request).user, idParam(request, "bot_id"));
        return { result: "success", msg: "", api_key: key };
      },
    },
  });

  registerEndpoint(app, `${prefix}/users/:user_id${ID}/reactivate`, {
    POST: {
      typed: true,
      authenticate,
      doc: { ...named("reactivate-user"), summary: "Reactivate a user or bot", tags },
      schema: { response: { 200: emptySuccess } },
      handler: async (request) => {
        await reactivateUser(ctx, principalOf(request).user, idParam(request, "user_id"), changeSource(request));
        return { result: "success", msg: "" };
      },
    },
  });
}
