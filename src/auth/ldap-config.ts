/**
 * The `LATCHKEY_LDAP_*` variables, validated at boot. They mirror Zulip's `AUTH_LDAP_*` and
 * `LDAP_*` settings (zproject/backends.py, ZulipLDAPAuthBackend); `docs/ldap.md` maps one to
 * the other.
 */
import { FilterParser } from "ldapts";
import { ConfigError, type Env, readRaw as read, readBool, readFileSetting, readInt } from "../env.js";

export interface LdapConfig {
  /** Tried in order; the next one only when a server cannot be reached. */
  serverUris: string[];
  startTls: boolean;
  /** PEM certificates the server's certificate must chain to (ldaps:// or StartTLS); null: the system's. */
  ca: Buffer | null;
  /** The service account that searches; "" searches anonymously. */
  bindDn: string;
  bindPassword: string;
  userSearchBase: string;
  /** With `%(user)s` where the (escaped) LDAP username goes. */
  userSearchFilter: string;
  /** The attribute holding the LDAP username (Zulip's `AUTH_LDAP_USERNAME_ATTR`). */
  usernameAttr: string | null;
  /** Zulip's `LDAP_APPEND_DOMAIN`, lower-cased. */
  appendDomain: string | null;
  /** Zulip's `LDAP_EMAIL_ATTR`. */
  emailAttr: string | null;
  /** With `%(email)s`: finds the LDAP user of an email (`AUTH_LDAP_REVERSE_EMAIL_SEARCH`). */
  reverseEmailSearch: string | null;
  fullNameAttr: string;
  /** DN of a group the user must be a member of (`AUTH_LDAP_REQUIRE_GROUP`). */
  requireGroup: string | null;
  /** An attribute that marks a disabled account (Zulip's `LDAP_DEACTIVATED_ATTR`-style). */
  deactivatedAttr: string | null;
  /** Values of `deactivatedAttr` that mean "disabled", compared without case. Lower-cased. */
  deactivatedValues: string[];
  connectTimeoutMs: number;
  /** Bounds a whole login's exchange with the directory, connecting included. */
  timeoutMs: number;
}

const ATTRIBUTE = /^[A-Za-z][A-Za-z0-9-]*$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

function readAttribute(env: Env, name: string, fallback: string | null): string | null {
  const value = read(env, name);
  if (value === "") return fallback;
  if (!ATTRIBUTE.test(value))
    throw new ConfigError(name, `expected an attribute name (letters, digits, hyphens), got ${JSON.stringify(value)}`);
  return value;
}

/** A search filter template must hold its placeholder and parse once a value is put in. */
function readFilter(env: Env, name: string, fallback: string | null, placeholder: string): string | null {
  const value = read(env, name) || fallback;
  if (value === null) return null;
  if (!value.includes(placeholder)) throw new ConfigError(name, `must contain ${placeholder}, got ${JSON.stringify(value)}`);
  try {
    FilterParser.parseString(value.replaceAll(placeholder, "x"));
  } catch (err) {
    throw new ConfigError(name, `not a valid LDAP filter (${(err as Error).message}): ${JSON.stringify(value)}`);
  }
  return value;
}

function parseServerUris(raw: string): string[] {
  const uris = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (uris.length === 0) throw new ConfigError("LATCHKEY_LDAP_SERVER_URI", "expected one or more ldap:// or ldaps:// URLs");
  for (const uri of uris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ConfigError("LATCHKEY_LDAP_SERVER_URI", `not a URL: ${JSON.stringify(uri)}`);
    }
    const bare = (url.pathname === "" || url.pathname === "/") && url.search === "" && url.hash === "";
    if ((url.protocol !== "ldap:" && url.protocol !== "ldaps:") || url.hostname === "" || !bare || url.username !== "") {
      throw new ConfigError(
        "LATCHKEY_LDAP_SERVER_URI",
        `expected ldap://host[:port] or ldaps://host[:port], got ${JSON.stringify(uri)}`,
      );
    }
  }
  return uris;
}

/** The LDAP settings, or null when `LATCHKEY_LDAP_SERVER_URI` is unset (LDAP login off). */
export function parseLdapConfig(env: Env): LdapConfig | null {
  const serverRaw = read(env, "LATCHKEY_LDAP_SERVER_URI");
  if (serverRaw === "") {
    const stray = Object.keys(env).find((k) => k.startsWith("LATCHKEY_LDAP_") && read(env, k) !== "");
    if (stray !== undefined) throw new ConfigError(stray, "is set but LATCHKEY_LDAP_SERVER_URI is not; set it to use LDAP login");
    return null;
  }
  const serverUris = parseServerUris(serverRaw);
  const startTls = readBool(env, "LATCHKEY_LDAP_START_TLS", false);
  if (startTls && serverUris.some((u) => u.startsWith("ldaps:"))) {
    throw new ConfigError("LATCHKEY_LDAP_START_TLS", "use either ldaps:// URLs or StartTLS over ldap://, not both");
  }
  const ca = readFileSetting(env, "LATCHKEY_LDAP_CA_FILE");

  const bindDn = read(env, "LATCHKEY_LDAP_BIND_DN");
  const bindPassword = env.LATCHKEY_LDAP_BIND_PASSWORD ?? "";
  // A DN with an empty password is an unauthenticated bind (RFC 4513 5.1.2): refused, never guessed at.
  if (bindDn !== "" && bindPassword === "") {
    throw new ConfigError(
      "LATCHKEY_LDAP_BIND_PASSWORD",
      "is required with LATCHKEY_LDAP_BIND_DN (leave both empty to search anonymously)",
    );
  }
  if (bindDn === "" && bindPassword !== "") {
    throw new ConfigError("LATCHKEY_LDAP_BIND_DN", "is required with LATCHKEY_LDAP_BIND_PASSWORD");
  }

  const userSearchBase = read(env, "LATCHKEY_LDAP_USER_SEARCH_BASE");
  if (userSearchBase === "") throw new ConfigError("LATCHKEY_LDAP_USER_SEARCH_BASE", "is required with LATCHKEY_LDAP_SERVER_URI");
  const userSearchFilter = readFilter(env, "LATCHKEY_LDAP_USER_SEARCH_FILTER", "(uid=%(user)s)", "%(user)s") as string;

  const appendDomainRaw = read(env, "LATCHKEY_LDAP_APPEND_DOMAIN").toLowerCase();
  if (appendDomainRaw !== "" && !DOMAIN.test(appendDomainRaw)) {
    throw new ConfigError(
      "LATCHKEY_LDAP_APPEND_DOMAIN",
      `expected a domain such as example.com, got ${JSON.stringify(appendDomainRaw)}`,
    );
  }
  const appendDomain = appendDomainRaw === "" ? null : appendDomainRaw;
  const emailAttr = readAttribute(env, "LATCHKEY_LDAP_EMAIL_ATTR", null);
  if (appendDomain !== null && emailAttr !== null) {
    throw new ConfigError(
      "LATCHKEY_LDAP_EMAIL_ATTR",
      "cannot be used with LATCHKEY_LDAP_APPEND_DOMAIN; choose one way to derive emails",
    );
  }
  const usernameAttr = readAttribute(env, "LATCHKEY_LDAP_USERNAME_ATTR", null);
  const reverseEmailSearch = readFilter(env, "LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH", null, "%(email)s");
  // Zulip's check_ldap_config: without APPEND_DOMAIN an email must be mapped back to a username.
  if (appendDomain === null && (usernameAttr === null || reverseEmailSearch === null)) {
    throw new ConfigError(
      usernameAttr === null ? "LATCHKEY_LDAP_USERNAME_ATTR" : "LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH",
      "LATCHKEY_LDAP_USERNAME_ATTR and LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH are both required unless LATCHKEY_LDAP_APPEND_DOMAIN is set",
    );
  }

  const deactivatedAttr = readAttribute(env, "LATCHKEY_LDAP_DEACTIVATED_ATTR", null);
  const deactivatedValues = (read(env, "LATCHKEY_LDAP_DEACTIVATED_VALUES") || "TRUE,YES")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  if (read(env, "LATCHKEY_LDAP_DEACTIVATED_VALUES") !== "" && deactivatedAttr === null) {
    throw new ConfigError("LATCHKEY_LDAP_DEACTIVATED_VALUES", "is set but LATCHKEY_LDAP_DEACTIVATED_ATTR is not");
  }

  const connectTimeoutMs = readInt(env, "LATCHKEY_LDAP_CONNECT_TIMEOUT_MS", 5000, 1, 600_000, "milliseconds");
  const timeoutMs = readInt(env, "LATCHKEY_LDAP_TIMEOUT_MS", 10000, 1, 600_000, "milliseconds");
  return {
    serverUris,
    startTls,
    ca,
    bindDn,
    bindPassword,
    userSearchBase,
    userSearchFilter,
    usernameAttr,
    appendDomain,
    emailAttr,
    reverseEmailSearch,
    fullNameAttr: readAttribute(env, "LATCHKEY_LDAP_FULL_NAME_ATTR", "cn") as string,
    requireGroup: read(env, "LATCHKEY_LDAP_REQUIRE_GROUP") || null,
    deactivatedAttr,
    deactivatedValues,
    connectTimeoutMs,
    timeoutMs,
  };
}
