/** `GET /api/v1/server_settings` (docs/zulip-rules.md §3): what a client needs before it can log in. */
import type { FastifyInstance } from "fastify";
import type { Config } from "../../config.js";
import type { Context } from "../../domain/context.js";
import { ldapEnabled, requireEmailFormatUsernames } from "../../domain/login.js";
import type { Realm } from "../../domain/model.js";
import { externalMethod, idpsFor, oidcAuthEnabled } from "../../domain/oidc-login.js";
import { ZulipError } from "../../errors.js";
import { userAgentName } from "../client-name.js";
import { registerEndpoint } from "../endpoint.js";
import { realmIconUrl, renderDescription } from "../presentation.js";

/** Zulip's backend names, in `AUTH_BACKEND_NAME_MAP` order (lower-cased on the wire); Latchkey has only the last. */
const EXTERNAL_BACKENDS = ["remoteuser", "github", "azuread", "gitlab", "google", "apple", "saml", "openid connect"];

function isIncompatible(userAgent: string | undefined): boolean {
  return userAgentName(userAgent ?? "Missing User-Agent") === "ZulipInvalid";
}

const bool = { type: "boolean" };
const str = { type: "string" };

const responseSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    result: str,
    msg: str,
    authentication_methods: { type: "object", additionalProperties: bool },
    external_authentication_methods: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        properties: {
          name: str,
          display_name: str,
          display_icon: { type: ["string", "null"] },
          login_url: str,
          signup_url: str,
        },
      },
    },
    zulip_feature_level: { type: "integer" },
    zulip_version: str,
    zulip_merge_base: str,
    push_notifications_enabled: bool,
    is_incompatible: bool,
    email_auth_enabled: bool,
    require_email_format_usernames: bool,
    realm_url: str,
    realm_uri: str,
    realm_name: str,
    realm_icon: str,
    realm_description: str,
    realm_web_public_access_enabled: bool,
  },
};

export function registerServerSettings(app: FastifyInstance, ctx: Context, config: Config): void {
  const dev = config.mode === "development";

  function authenticationMethods(realm: Realm | null): Record<string, boolean> {
    const email = realm === null || realm.authMethods.email;
    const ldap = realm === null ? ctx.ldap?.configured === true : ldapEnabled(ctx, realm);
    const methods: Record<string, boolean> = {
      password: email || ldap,
      dev: dev && (realm === null || realm.authMethods.dev),
      email,
      ldap,
    };
    for (const name of EXTERNAL_BACKENDS) methods[name] = false;
    methods["openid connect"] = oidcAuthEnabled(ctx, realm);
    return methods;
  }

  /** Zulip's `get_external_method_dicts`: the providers that serve this organization. */
  function externalMethods(realm: Realm | null): Record<string, string | null>[] {
    return idpsFor(ctx, realm).map((idp) => {
      const m = externalMethod(ctx, idp);
      return {
        name: m.name,
        display_name: m.displayName,
        display_icon: m.displayIcon,
        login_url: m.loginUrl,
        signup_url: m.signupUrl,
      };
    });
  }

  registerEndpoint(
    app,
    "/api/v1/server_settings",
    {
      GET: {
        doc: {
          operationId: "get-server-settings",
          summary: "Get server settings",
          description:
            "What a client needs before logging in: the authentication methods, the organization's URL and name, and whether usernames are emails. Needs no authentication.",
          tags: ["server_and_organizations"],
        },
        schema: { response: { 200: responseSchema } },
        handler: async (request) => {
          const subdomain = request.subdomain;
          const realm = await ctx.stores.realms.findBySubdomain(subdomain);
          if (realm === null && subdomain !== "") throw new ZulipError("Invalid subdomain");
          if (realm === null && config.rootDomainLandingPage) throw new ZulipError("Subdomain required");
          const methods = authenticationMethods(realm);
          const url = ctx.site.urlOf(subdomain);
          const body: Record<string, unknown> = {
            result: "success",
            msg: "",
            authentication_methods: methods,
            external_authentication_methods: externalMethods(realm),
            zulip_feature_level: config.zulipFeatureLevel,
            zulip_version: config.zulipVersion,
            zulip_merge_base: config.zulipMergeBase,
            push_notifications_enabled: config.pushNotificationsEnabled,
            is_incompatible: isIncompatible(request.headers["user-agent"]),
            email_auth_enabled: methods.email,
            require_email_format_usernames: requireEmailFormatUsernames(ctx, realm),
            realm_url: url,
            realm_uri: url,
            realm_web_public_access_enabled: false,
          };
          if (realm !== null) {
            body.realm_name = realm.name;
            body.realm_icon = realmIconUrl(realm, config.enableGravatar);
            body.realm_description = renderDescription(realm.description);
          }
          return body;
        },
      },
    },
    "plain",
  );
}
