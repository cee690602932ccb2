/**
 * `POST /api/v1/fetch_api_key`: username and password in, API key out; and its web twin
 * `POST /json/fetch_api_key`, where a logged-in person enters the password again to see the key.
 */
import type { FastifyInstance } from "fastify";
import { revealApiKey } from "../../domain/accounts.js";
import type { Context } from "../../domain/context.js";
import { isValidEmail } from "../../domain/email.js";
import { ldapEnabled, loginWithPassword, passwordAuthEnabled } from "../../domain/login.js";
import { observeLogin } from "../../domain/telemetry.js";
import { ClientGoneError, invalidEmail, RateLimitError, ServiceUnavailableError, ZulipError } from "../../errors.js";
import type { Authenticate } from "../authenticate.js";
import { clientGoneSignal } from "../client-gone.js";
import { registerEndpoint } from "../endpoint.js";
import { readParam, requireParam } from "../params.js";
import { loginBodyLimit } from "../plugins/body-parsers.js";
import { recordRateDecision } from "../plugins/rate-limits.js";
import { loginSource, requireRealmFromRequest } from "../request-info.js";
import { apiKeyResponse, loginParams, successSchema } from "../schemas.js";

export function registerFetchApiKey(app: FastifyInstance, ctx: Context): void {
  registerEndpoint(app, "/api/v1/fetch_api_key", {
    POST: {
      typed: true,
      bodyLimit: loginBodyLimit(app),
      config: { limitByAddress: true, needsHasher: true },
      doc: {
        operationId: "fetch-api-key",
        summary: "Fetch an API key (production)",
        description:
          "Gets the user's API key from their username and password. The organization is the one at the request's host.",
        tags: ["authentication"],
        params: loginParams,
        errors: [401, 404],
      },
      schema: { response: { 200: apiKeyResponse } },
      handler: async (request, reply) => {
        const username = requireParam(request, "username");
        const password = requireParam(request, "password");
        const client = readParam(request, "client");
        const realm = await requireRealmFromRequest(ctx, request);
        // An LDAP username need not be an email, so the syntax check applies only without LDAP.
        if (!ldapEnabled(ctx, realm) && !isValidEmail(username)) throw invalidEmail();
        // The request's own logger, so that lines the login writes carry the request id.
        const signal = clientGoneSignal(reply);
        const { user } = await observeLogin(
          ctx.telemetry,
          "api",
          loginWithPassword({ ...ctx, log: request.log }, { realm, username, password, signal }, (rate) =>
            recordRateDecision(request, rate),
          ),
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

/** The web twin's answer: no `user_id`, unlike `/api/v1/fetch_api_key`'s. */
const jsonApiKeyResponse = successSchema({ api_key: { type: "string" }, email: { type: "string" } }, ["api_key", "email"]);

/** Zulip's `json_fetch_api_key`: the settings page's "Get API key", after the password is entered again. */
export function registerJsonFetchApiKey(app: FastifyInstance, ctx: Context, authenticate: Authenticate): void {
  registerEndpoint(app, "/json/fetch_api_key", {
    POST: {
      typed: true,
      authenticate,
      bodyLimit: loginBodyLimit(app),
      config: { needsHasher: true },
      doc: {
        summary: "Show the API key after the password is entered again",
        description: "The settings page's \"Get API key\": the logged-in user's key, after their password is checked.",
        tags: ["authentication"],
        params: { password: { description: "The logged-in user's password." } },
      },
      schema: { response: { 200: jsonApiKeyResponse } },
      handler: async (request, reply) => {
        const principal = request.principal;
        if (principal === null) throw new ZulipError("Not logged in");
        const { user, realm } = principal;
        const password = readParam(request, "password") ?? "";
        if (passwordAuthEnabled(ctx, realm)) {
          let ok = false;
          try {
            const result = await observeLogin(
              ctx.telemetry,
              "json",
              loginWithPassword(
                { ...ctx, log: request.log },
                { realm, username: user.deliveryEmail, password, signal: clientGoneSignal(reply) },
                (rate) => recordRateDecision(request, rate),
              ),
            );
            ok = result.user.id === user.id;
          } catch (err) {
            // Throttled, unavailable or gone: say so; any other refusal is a wrong password.
            if (err instanceof RateLimitError || err instanceof ServiceUnavailableError || err instanceof ClientGoneError)
              throw err;
            if (!(err instanceof ZulipError)) throw err;
          }
          if (!ok) throw new ZulipError("Password is incorrect.");
        }
        return { result: "success", msg: "", api_key: await revealApiKey(ctx, user.id), email: user.deliveryEmail };
      },
    },
  });
}
