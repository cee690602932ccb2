/**
 * `LATCHKEY_OIDC_IDPS`, validated at boot: Zulip's `SOCIAL_AUTH_OIDC_ENABLED_IDPS` as JSON,
 *
 *     {"keycloak": {"display_name": "Keycloak", "display_icon": null,
 *                   "oidc_url": "https://keycloak.example.com/realms/acme",
 *                   "client_id": "latchkey", "secret": "…", "auto_signup": false,
 *                   "limit_to_subdomains": ["", "sales"]}}
 *
 * `oidc_url`, `client_id` and `secret` are required (Zulip's `check_config`); nothing is
 * fetched from the provider here, so a provider that is down does not stop the server.
 */

import type { OidcIdp } from "../domain/sso-ports.js";
import { ConfigError, type Env, readJsonObject } from "../env.js";

const VARIABLE = "LATCHKEY_OIDC_IDPS";
const NAME_FORMAT = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const SUBDOMAIN_FORMAT = /^(|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;
const KNOWN_KEYS = new Set([
  "display_name",
  "display_icon",
  "oidc_url",
  "client_id",
  "secret",
  "auto_signup",
  "limit_to_subdomains",
]);
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

function fail(problem: string): never {
  throw new ConfigError(VARIABLE, problem);
}

function requiredString(entry: Record<string, unknown>, idp: string, key: string): string {
  const value = entry[key];
  if (typeof value !== "string" || value.trim() === "") fail(`"${idp}": "${key}" must be a non-empty string`);
  return value.trim();
}

/** The issuer URL: https, or http on this machine only (tests, a provider on localhost). */
function readIssuer(entry: Record<string, unknown>, idp: string): string {
  const raw = requiredString(entry, idp, "oidc_url");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`"${idp}": "oidc_url" is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    fail(`"${idp}": "oidc_url" must be an https:// URL (http:// only for localhost), got ${JSON.stringify(raw)}`);
  }
  if (url.search !== "" || url.hash !== "") fail(`"${idp}": "oidc_url" must not have a query or fragment`);
  // The issuer exactly as the provider states it: discovery reads
  // <issuer>/.well-known/openid-configuration and checks that it names this issuer.
  return raw;
}

function readIdp(name: string, value: unknown): OidcIdp {
  if (!NAME_FORMAT.test(name)) {
    fail(`provider name ${JSON.stringify(name)} must be 1 to 40 lower-case letters, digits, "-" or "_"`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`"${name}" must be an object`);
  const entry = value as Record<string, unknown>;
  for (const key of Object.keys(entry)) if (!KNOWN_KEYS.has(key)) fail(`"${name}": unknown key ${JSON.stringify(key)}`);
  const displayName = entry.display_name ?? "OIDC";
  if (typeof displayName !== "string" || displayName.trim() === "") fail(`"${name}": "display_name" must be a non-empty string`);
  const displayIcon = entry.display_icon ?? null;
  if (displayIcon !== null && typeof displayIcon !== "string") fail(`"${name}": "display_icon" must be a string or null`);
  const autoSignup = entry.auto_signup ?? false;
  if (typeof autoSignup !== "boolean") fail(`"${name}": "auto_signup" must be true or false`);
  let limitToSubdomains: string[] | null = null;
  if (entry.limit_to_subdomains !== undefined) {
    const limit = entry.limit_to_subdomains;
    if (!Array.isArray(limit) || limit.some((s) => typeof s !== "string" || !SUBDOMAIN_FORMAT.test(s))) {
      fail(`"${name}": "limit_to_subdomains" must be a list of subdomains ("" for the root organization)`);
    }
    limitToSubdomains = limit as string[];
  }
  return {
    name,
    displayName: displayName.trim(),
    displayIcon,
    issuer: readIssuer(entry, name),
    clientId: requiredString(entry, name, "client_id"),
    secret: requiredString(entry, name, "secret"),
    autoSignup,
    limitToSubdomains,
  };
}

/** The configured providers, in the order written; [] when the variable is unset. */
export function parseOidcIdps(env: Env): OidcIdp[] {
  const entries = readJsonObject(env, VARIABLE, ' of providers, {"<name>": {"oidc_url": …, "client_id": …, "secret": …}}');
  return (entries ?? []).map(([name, value]) => readIdp(name, value));
}
