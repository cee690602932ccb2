/**
 * Development-only login (docs/zulip-rules.md §2): `POST /api/v1/dev_fetch_api_key` and `GET /api/v1/dev_list_users`.
 * Registered only in development mode; in production they are not routed at all (JSON 404).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { revealApiKey } from "../../domain/accounts.js";
import type { AuthFlag, Context } from "../../domain/context.js";
import { isValidEmail } from "../../domain/email.js";
import { findActiveUser } from "../../domain/login.js";
import { emailKey, isRealmAdmin, type User } from "../../domain/model.js";
import { authenticationFailed, invalidEmail, realmDeactivated, userDeactivated } from "../../errors.js";
import { registerEndpoint } from "../endpoint.js";
import { readParam, requireParam } from "../params.js";
import { loginBodyLimit } from "../plugins/body-parsers.js";
import { loginSource, requireRealmFromRequest } from "../request-info.js";
import { apiKeyResponse, successSchema } from "../schemas.js";

const devUser = {
  type: "object",
  additionalProperties: false,
  properties: { email: { type: "string" }, realm_url: { type: "string" } },
  required: ["email", "realm_url"],
};

export interface DevLoginOptions {
  /**
   * Logs the asking browser in to the web app as `user` (a session and its cookie): Zulip's
   * `do_login`, which `dev_fetch_api_key` calls as well as returning the key.
   */
  startBrowserSession: (request: FastifyRequest, reply: FastifyReply, user: User) => Promise<void>;
}

export function registerDevLogin(app: FastifyInstance, ctx: Context, { startBrowserSession }: DevLoginOptions): void {
  registerEndpoint(app, "/api/v1/dev_fetch_api_key", {
    POST: {
      typed: true,
      bodyLimit: loginBodyLimit(app),
      config: { limitByAddress: true },
      doc: {
        operationId: "dev-fetch-api-key",
        summary: "Fetch an API key (development only)",
        description: "Gets any active user's API key without a password. Routed only on a development server.",
        tags: ["authentication"],
        params: { username: { description: "The email of the user whose key is wanted.", required: true } },
        errors: [401, 404],
      },
      schema: { response: { 200: apiKeyResponse } },
      handler: async (request, reply) => {
        const username = requireParam(request, "username");
        const client = readParam(request, "client");
        if (!isValidEmail(username)) throw invalidEmail();
        const realm = await requireRealmFromRequest(ctx, request);
        const flags = new Set<AuthFlag>();
        const user = realm.authMethods.dev ? await findActiveUser(ctx, realm, username, flags) : null;
        // Unlike fetch_api_key, the organization is checked before the account here (§2).
        if (flags.has("inactive_realm")) throw realmDeactivated();
        if (flags.has("inactive_user")) throw userDeactivated();
        if (user === null) throw authenticationFailed();
        const apiKey = await revealApiKey(ctx, user.id);
        // Zulip's do_login: the browser (or client) that asked is logged in to the web app too.
        await startBrowserSession(request, reply, user);
        ctx.telemetry.login("dev", "success");
        ctx.onLogin(user, realm, loginSource(request, client));
        return {
          result: "success",
          msg: "",
          api_key: apiKey,
          email: user.deliveryEmail,
          user_id: user.id,
        };
      },
    },
  });

  registerEndpoint(app, "/api/v1/dev_list_users", {
    GET: {
      typed: true,
      config: { limitByAddress: true },
      doc: {
        operationId: "dev-list-users",
        summary: "List users (development only)",
        description: "The active users of every organization, for the development login. Routed only on a development server.",
        tags: ["authentication"],
      },
      schema: {
        response: {
          200: successSchema(
            {
              direct_admins: { type: "array", items: devUser },
              direct_users: { type: "array", items: devUser },
            },
            ["direct_admins", "direct_users"],
          ),
        },
      },
      handler: async () => {
        const realms = new Map((await ctx.stores.realms.list()).map((r) => [r.id, r]));
        const users = (await ctx.stores.users.listActiveHumans()).sort((a, b) =>
          emailKey(a.email) < emailKey(b.email) ? -1 : emailKey(a.email) > emailKey(b.email) ? 1 : 0,
        );
        const entry = (u: (typeof users)[number]) => {
          const realm = realms.get(u.realmId);
          return { email: u.deliveryEmail, realm_url: realm ? ctx.site.urlOf(realm.subdomain) : "" };
        };
        return {
          result: "success",
          msg: "",
          direct_admins: users.filter(isRealmAdmin).map(entry),
          direct_users: users.filter((u) => !isRealmAdmin(u)).map(entry),
        };
      },
    },
  });
}
