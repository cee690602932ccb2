/** `POST /api/v1/fetch_api_key` (§1): username and password in, API key out. */
import type { FastifyInstance } from "fastify";
import type { Context } from "../../domain/context.js";
import { revealApiKey } from "../../domain/directory.js";
import { isValidEmail } from "../../domain/email.js";
import { ldapEnabled, loginWithPassword } from "../../domain/login.js";
import { MESSAGES, ZulipError } from "../../errors.js";
import { registerEndpoint } from "../endpoint.js";
import { readParam, requireParam } from "../params.js";
import { recordRateDecision } from "../plugins/rate-limits.js";
import { loginSource, requireRealmFromRequest } from "../request-info.js";
import { apiKeyResponse } from "../schemas.js";

export function registerFetchApiKey(app: FastifyInstance, ctx: Context): void {
  registerEndpoint(app, "/api/v1/fetch_api_key", {
    POST: {
      typed: true,
      config: { limitByAddress: true },
      schema: { response: { 200: apiKeyResponse } },
      handler: async (request) => {
        const username = requireParam(request, "username");
        const password = requireParam(request, "password");
        const client = readParam(request, "client");
        const realm = await requireRealmFromRequest(ctx, request);
        // An LDAP username need not be an email, so the syntax check applies only without LDAP.
        if (!ldapEnabled(ctx, realm) && !isValidEmail(username)) throw new ZulipError(MESSAGES.invalidEmail);
        // The request's own logger, so that lines the login writes carry the request id.
        const { user } = await loginWithPassword({ ...ctx, log: request.log }, { realm, username, password }, (rate) =>
          recordRateDecision(request, rate),
        );
        ctx.onLogin(user, realm, loginSource(request, client));
        return {
          result: "success",
          msg: "",
          api_key: await revealApiKey(ctx, user.id),
          email: user.deliveryEmail,
          user_id: user.id,
        };
      },
    },
  });
}
