/** `GET /api/v1/users/me` (docs/zulip-rules.md §5): the authenticated user, in Zulip's user format. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../../config.js";
import type { Principal } from "../../domain/key-cache.js";
import { ROLE, type User } from "../../domain/model.js";
import { registerEndpoint } from "../endpoint.js";
import { ignoredParams } from "../params.js";
import { avatarUrl, isoformat } from "../presentation.js";
import { successSchema } from "../schemas.js";

/** The fields of Zulip's user object, for the response schemas that carry one. */
export const userProperties = {
  user_id: { type: "integer" },
  email: { type: "string" },
  delivery_email: { type: "string" },
  full_name: { type: "string" },
  avatar_url: { type: "string" },
  avatar_version: { type: "integer" },
  is_admin: { type: "boolean" },
  is_owner: { type: "boolean" },
  is_guest: { type: "boolean" },
  is_billing_admin: { type: "boolean" },
  role: { type: "integer" },
  is_bot: { type: "boolean" },
  bot_type: { type: ["integer", "null"] },
  bot_owner_id: { type: ["integer", "null"] },
  timezone: { type: "string" },
  is_active: { type: "boolean" },
  date_joined: { type: "string" },
  profile_data: { type: "object", additionalProperties: true },
  max_message_id: { type: "integer" },
};

/** Zulip's `format_user_row` for a user looking at themselves. */
export function formatOwnUser(user: User, gravatar: boolean): Record<string, unknown> {
  const row: Record<string, unknown> = {
    user_id: user.id,
    email: user.email,
    delivery_email: user.deliveryEmail,
    full_name: user.fullName,
    avatar_url: avatarUrl(user, gravatar),
    avatar_version: user.avatarVersion,
    is_admin: user.role === ROLE.owner || user.role === ROLE.administrator,
    is_owner: user.role === ROLE.owner,
    is_guest: user.role === ROLE.guest,
    is_billing_admin: false,
    role: user.role,
    is_bot: user.isBot,
    timezone: user.timezone,
    is_active: user.isActive,
    date_joined: isoformat(user.dateJoined),
  };
  if (user.isBot) {
    row.bot_type = user.botType;
    row.bot_owner_id = user.botOwnerId;
  } else {
    row.profile_data = {};
  }
  return row;
}

/**
 * Bodies already built, per cached principal. A change to the user replaces the principal in
 * the key cache, so a stale body can never be served.
 */
interface CachedBody {
  body: Record<string, unknown>;
  /** The body already serialized, as the app's serializer would write it. */
  json: string;
}

// One body per cached principal: a change to the user replaces the principal, and the body with it.
const bodies = new WeakMap<Principal, CachedBody>();

export function registerUsersMe(
  app: FastifyInstance,
  config: Config,
  authenticate: (request: FastifyRequest) => void | Promise<void>,
): void {
  registerEndpoint(app, "/api/v1/users/me", {
    GET: {
      typed: true,
      authenticate,
      doc: {
        operationId: "get-own-user",
        summary: "Get own user",
        description: "The authenticated user, in Zulip's user format.",
        tags: ["users"],
      },
      schema: { response: { 200: successSchema(userProperties) } },
      handler: (request, reply) => {
        const principal = request.principal as Principal;
        let cached = bodies.get(principal);
        if (cached === undefined) {
          const body = {
            result: "success",
            msg: "",
            ...formatOwnUser(principal.user, config.enableGravatar),
            max_message_id: -1,
          };
          cached = { body, json: `${JSON.stringify(body)}\n` };
          bodies.set(principal, cached);
        }
        // With nothing to report as ignored, the serialized body goes out as it is.
        if (ignoredParams(request).length > 0) return cached.body;
        reply.type("application/json; charset=utf-8");
        return cached.json;
      },
    },
  });
}
