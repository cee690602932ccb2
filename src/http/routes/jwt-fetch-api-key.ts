/**
 * `POST /api/v1/jwt/fetch_api_key` (docs/zulip-rules.md §1b): a JSON Web Token signed with the
 * organization's key in, the API key of the person it names out.
 */
import type { FastifyInstance } from "fastify";
import type { Config } from "../../config.js";
import { revealApiKey } from "../../domain/accounts.js";
import type { Context } from "../../domain/context.js";
import { emailFromJwt, loginWithJwt } from "../../domain/jwt-login.js";
import { registerEndpoint } from "../endpoint.js";
import { readJsonBool } from "../json-params.js";
import { readParam } from "../params.js";
import { recordRateDecision } from "../plugins/rate-limits.js";
import { loginSource, requireRealmFromRequest } from "../request-info.js";
import { successSchema } from "../schemas.js";
import { formatOwnUser, userProperties } from "./users-me.js";

/** OpenAPI's answer: `api_key` and `email`, and `user` with `include_profile`; no `user_id`. */
const responseSchema = successSchema(
  {
    api_key: { type: "string" },
    email: { type: "string" },
    user: { type: "object", additionalProperties: false, properties: userProperties },
  },
  ["api_key", "email"],
);

export function registerJwtFetchApiKey(app: FastifyInstance, ctx: Context, config: Config): void {
  registerEndpoint(app, "/api/v1/jwt/fetch_api_key", {
    POST: {
      typed: true,
      config: { limitByAddress: true },
      doc: {
        operationId: "jwt-fetch-api-key",
        summary: "Fetch an API key with a JSON Web Token",
        tags: ["authentication"],
        params: {
          include_profile: {
            description: "Whether to include the user's profile (JSON boolean).",
            schema: { type: "string", examples: ["true"] },
          },
          token: { description: "The JSON Web Token naming the user (its `email` claim)." },
        },
        errors: [401, 404],
      },
      schema: { response: { 200: responseSchema } },
      handler: async (request) => {
        // Zulip's parameters, in its order: include_profile, then token (default "").
        const includeProfile = readJsonBool(request, "include_profile") ?? false;
        const token = readParam(request, "token") ?? "";
        const client = readParam(request, "client");
        const realm = await requireRealmFromRequest(ctx, request);
        const email = await emailFromJwt(ctx, realm, token);
        const user = await loginWithJwt({ ...ctx, log: request.log }, realm, email, (rate) => recordRateDecision(request, rate));
        ctx.onLogin(user, realm, loginSource(request, client));
        const body: Record<string, unknown> = {
          result: "success",
          msg: "",
          api_key: await revealApiKey(ctx, user.id),
          email: user.deliveryEmail,
        };
        if (includeProfile) {
          // Zulip's get_users_for_api without custom profile fields.
          const { profile_data: _omitted, ...profile } = formatOwnUser(user, config.enableGravatar);
          body.user = profile;
        }
        return body;
      },
    },
  });
}
