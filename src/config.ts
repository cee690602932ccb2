/**
 * Configuration from the environment, validated at boot. A bad value stops the server with a
 * message that names the variable.
 */
import { availableParallelism } from "node:os";
import { type JwtKey, parseJwtAuthKeys } from "./auth/jwt-keys.js";
import { type LdapConfig, parseLdapConfig } from "./auth/ldap-config.js";
import { parseOidcIdps } from "./auth/oidc-config.js";
import { parseRateRules, type RateRule } from "./domain/rate-rules.js";
import type { OidcIdp } from "./domain/sso-ports.js";
import { ConfigError, type Env, readBool, readFileSetting, readInt, readString } from "./env.js";
import { parseTrustedProxies } from "./http/client-address.js";

export type Mode = "development" | "production";

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** Where email goes (issue 4): an SMTP server, or the outbox folder when none is configured. */
export interface EmailConfig {
  smtp: {
    /** `smtp://` or `smtps://` URL with credentials, when given as one. */
    url: string | null;
    host: string;
    port: number;
    /** TLS from the start (port 465); otherwise STARTTLS. */
    secure: boolean;
    /** Without `secure`: refuse to send unless the server agrees to STARTTLS (on by default). */
    requireTls: boolean;
    /** PEM certificates the mail server's certificate must chain to; null: the system's. */
    ca: Buffer | null;
    user: string | null;
    password: string | null;
  } | null;
  /** The From address. */
  from: string;
  /**
   * Messages are written here when no SMTP server is configured. Null in production unless
   * `LATCHKEY_EMAIL_OUTBOX` names it: `serve` then refuses to start without a mail server.
   */
  outboxDir: string | null;
  /** Zulip's SEND_LOGIN_EMAILS: the new-login notification. */
  sendLoginEmails: boolean;
}

export interface Config {
  mode: Mode;
  port: number;
  host: string;
  /** The root host; `<sub>.<externalHost>` selects organization `<sub>`. Lower-case. */
  externalHost: string;
  externalScheme: "http" | "https";
  databaseUrl: string;
  secretsFile: string;
  redisUrl: string | null;
  rootSubdomainAliases: string[];
  /** Extra hosts that select an organization: subdomain → host. */
  realmHosts: Record<string, string>;
  rootDomainLandingPage: boolean;
  zulipVersion: string;
  zulipMergeBase: string;
  zulipFeatureLevel: number;
  pushNotificationsEnabled: boolean;
  enableGravatar: boolean;
  argon2: Argon2Params;
  hashConcurrency: number;
  /** Password hashes that may wait beyond the running ones; more are refused with a 503. */
  hashQueueMax: number;
  /** Scheduling priority of the hashing threads: 0 normal, 19 lowest. */
  hashNice: number;
  authRateRules: RateRule[];
  /** Zulip's `api_by_user`: requests per authenticated user. */
  userRateRules: RateRule[];
  /** Zulip's `api_by_ip`: requests per client address on the unauthenticated endpoints that opt in. */
  ipRateRules: RateRule[];
  /** Zulip's `password_reset_form_by_email`: reset emails per address. */
  passwordResetRateRules: RateRule[];
  /** Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges); empty: none. */
  trustedProxies: string[];
  keyCacheSize: number;
  /** How long a cached key may be trusted, in seconds: the worst case for a change no node heard. */
  keyCacheTtl: number;
  /** PostgreSQL: how long a query or a wait for a connection may take before a 503, in ms. */
  databaseTimeoutMs: number;
  /** A client must send a request's headers within this long, in ms. */
  headersTimeoutMs: number;
  /** ...and the whole request within this long. */
  requestTimeoutMs: number;
  /** Serve Prometheus metrics at `/metrics`. */
  metrics: boolean;
  /** Serve them on this port of their own instead of the main one; null: the main port. */
  metricsPort: number | null;
  bodyLimit: number;
  logLevel: string;
  /** LDAP login (`LATCHKEY_LDAP_*`); null when no directory is configured. */
  ldap: LdapConfig | null;
  /** OpenID Connect identity providers (`LATCHKEY_OIDC_IDPS`), in the order written. */
  oidcIdps: OidcIdp[];
  /** JWT login's keys by subdomain (`LATCHKEY_JWT_AUTH_KEYS`). */
  jwtAuthKeys: Map<string, JwtKey>;
  /** Record each API key's last use (time, address, client), at most once a minute per key. */
  trackKeyUse: boolean;
  /** A key's use is written at most once per this many seconds. */
  trackKeyUseInterval: number;
  email: EmailConfig;
}

/** Zulip's production Argon2id parameters (Django's defaults, docs/zulip-rules.md §4.2). */
export const ZULIP_ARGON2: Argon2Params = { memoryCost: 102400, timeCost: 2, parallelism: 8 };
/** OWASP's floor for Argon2id; configuration below it is refused. */
export const OWASP_ARGON2_FLOOR: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

function readRateRules(env: Env, name: string, fallback: string): RateRule[] {
  try {
    return parseRateRules(readString(env, name, fallback));
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function parseRealmHosts(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === "") return out;
  for (const pair of raw.split(",")) {
    const [sub, host, ...rest] = pair.split("=").map((s) => s.trim().toLowerCase());
    if (sub === undefined || host === undefined || host === "" || rest.length > 0) {
      throw new ConfigError(
        "LATCHKEY_REALM_HOSTS",
        `expected subdomain=host pairs separated by commas, got ${JSON.stringify(pair)}`,
      );
    }
    out[sub] = host;
  }
  return out;
}

function readEmailConfig(env: Env, externalHost: string, mode: Mode): EmailConfig {
  const url = readString(env, "LATCHKEY_SMTP_URL", "");
  if (url !== "" && !/^smtps?:\/\//.test(url)) throw new ConfigError("LATCHKEY_SMTP_URL", "expected an smtp:// or smtps:// URL");
  const host = readString(env, "LATCHKEY_SMTP_HOST", "");
  const secure = url.startsWith("smtps://") || readBool(env, "LATCHKEY_SMTP_SECURE", false);
  const port = readInt(env, "LATCHKEY_SMTP_PORT", secure ? 465 : 587, 1, 65535);
  const user = readString(env, "LATCHKEY_SMTP_USER", "");
  const password = env.LATCHKEY_SMTP_PASSWORD ?? "";
  if (user !== "" && password === "") throw new ConfigError("LATCHKEY_SMTP_PASSWORD", "required with LATCHKEY_SMTP_USER");
  const ca = readFileSetting(env, "LATCHKEY_SMTP_CA_FILE");
  const domain = externalHost.replace(/:\d+$/, "");
  const from = readString(
    env,
    "LATCHKEY_EMAIL_FROM",
    `Latchkey <noreply@${domain.includes(".") ? domain : `${domain}.localdomain`}>`,
  );
  if (/[\r\n]/.test(from) || !from.includes("@")) throw new ConfigError("LATCHKEY_EMAIL_FROM", "expected an email address");
  return {
    smtp:
      url !== "" || host !== ""
        ? {
            url: url === "" ? null : url,
            host,
            port,
            secure,
            requireTls: readBool(env, "LATCHKEY_SMTP_REQUIRE_TLS", true),
            ca,
            user: user === "" ? null : user,
            password: user === "" ? null : password,
          }
        : null,
    from,
    // Reset links are live credentials: production writes them to a folder only when told to.
    outboxDir: readString(env, "LATCHKEY_EMAIL_OUTBOX", "") || (mode === "development" ? "./var/outbox" : null),
    sendLoginEmails: readBool(env, "LATCHKEY_SEND_LOGIN_EMAILS", true),
  };
}

/**
 * What `serve` needs beyond valid settings: somewhere to send email (password-reset links and
 * login notices must not silently pile up in a folder nobody watches).
 */
export function requireMailDestination(config: Config): void {
  if (config.email.smtp !== null || config.email.outboxDir !== null) return;
  throw new ConfigError(
    "LATCHKEY_SMTP_URL",
    "serve sends password-reset links and login notices by email; set LATCHKEY_SMTP_URL (or LATCHKEY_SMTP_HOST), or LATCHKEY_EMAIL_OUTBOX to write them to a folder",
  );
}

/** Lines the server logs as warnings at boot: settings that work but are unsafe. */
export function bootWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const ldap = config.ldap;
  if (ldap !== null && !ldap.startTls && ldap.serverUris.some((uri) => uri.toLowerCase().startsWith("ldap://"))) {
    warnings.push(
      "LATCHKEY_LDAP_SERVER_URI uses ldap:// without LATCHKEY_LDAP_START_TLS: directory passwords cross the network in the clear",
    );
  }
  const smtp = config.email.smtp;
  if (smtp !== null && !smtp.secure && !smtp.requireTls) {
    warnings.push("LATCHKEY_SMTP_REQUIRE_TLS is off: password-reset links may cross the network in the clear");
  }
  return warnings;
}

/** Builds the configuration for `mode` from `env`; throws `ConfigError` on the first bad value. */
export function loadConfig(mode: Mode, env: Env = process.env): Config {
  const port = readInt(env, "PORT", 9991, 0, 65535);
  const host = readString(env, "HOST", mode === "development" ? "127.0.0.1" : "0.0.0.0");
  const externalHost = readString(env, "LATCHKEY_EXTERNAL_HOST", `localhost:${port}`).toLowerCase();
  if (!/^[a-z0-9.-]+(:\d+)?$/.test(externalHost)) {
    throw new ConfigError("LATCHKEY_EXTERNAL_HOST", `expected host[:port], got ${JSON.stringify(externalHost)}`);
  }
  const scheme = readString(env, "LATCHKEY_EXTERNAL_SCHEME", mode === "development" ? "http" : "https");
  if (scheme !== "http" && scheme !== "https") {
    throw new ConfigError("LATCHKEY_EXTERNAL_SCHEME", `expected http or https, got ${JSON.stringify(scheme)}`);
  }
  const databaseUrl = readString(
    env,
    "LATCHKEY_DATABASE_URL",
    mode === "development" ? "./var/dev.sqlite" : "./var/latchkey.sqlite",
  );
  const redisUrl = readString(env, "LATCHKEY_REDIS_URL", "");
  if (redisUrl !== "" && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError("LATCHKEY_REDIS_URL", "expected a redis:// or rediss:// URL");
  }

  const argon2: Argon2Params = {
    memoryCost: readInt(
      env,
      "LATCHKEY_ARGON2_MEMORY_KIB",
      ZULIP_ARGON2.memoryCost,
      OWASP_ARGON2_FLOOR.memoryCost,
      4 * 1024 * 1024,
    ),
    timeCost: readInt(env, "LATCHKEY_ARGON2_TIME_COST", ZULIP_ARGON2.timeCost, OWASP_ARGON2_FLOOR.timeCost, 100),
    parallelism: readInt(env, "LATCHKEY_ARGON2_PARALLELISM", ZULIP_ARGON2.parallelism, OWASP_ARGON2_FLOOR.parallelism, 64),
  };

  const authRateRules = readRateRules(env, "LATCHKEY_RATE_LIMIT_AUTH", "1800:5");
  // ASVS 2.2.1 / NIST SP 800-63B: never more than 100 failed attempts per hour per account.
  const perHour = Math.min(
    ...authRateRules.map((r) => (r.windowSeconds >= 3600 ? r.max : r.max * Math.ceil(3600 / r.windowSeconds))),
  );
  if (perHour > 100) {
    throw new ConfigError("LATCHKEY_RATE_LIMIT_AUTH", `allows ${perHour} attempts per hour per account; the most allowed is 100`);
  }

  let trustedProxies: string[];
  try {
    trustedProxies = parseTrustedProxies(readString(env, "LATCHKEY_TRUSTED_PROXIES", ""));
  } catch (err) {
    throw new ConfigError("LATCHKEY_TRUSTED_PROXIES", (err as Error).message);
  }

  const zulipVersion = readString(env, "LATCHKEY_ZULIP_VERSION", "10.0");
  const headersTimeoutMs = readInt(env, "LATCHKEY_HEADERS_TIMEOUT_MS", 10_000, 500, 600_000, "milliseconds");
  const requestTimeoutMs = readInt(env, "LATCHKEY_REQUEST_TIMEOUT_MS", 15_000, 500, 600_000, "milliseconds");
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError("LATCHKEY_REQUEST_TIMEOUT_MS", `must be at least LATCHKEY_HEADERS_TIMEOUT_MS (${headersTimeoutMs})`);
  }
  const rawMetricsPort = readString(env, "LATCHKEY_METRICS_PORT", "");
  const metricsPort = rawMetricsPort === "" ? null : readInt(env, "LATCHKEY_METRICS_PORT", 0, 0, 65535);
  return {
    mode,
    port,
    host,
    externalHost,
    externalScheme: scheme,
    databaseUrl,
    secretsFile: readString(env, "LATCHKEY_SECRETS_FILE", "./var/secrets.json"),
    redisUrl: redisUrl === "" ? null : redisUrl,
    rootSubdomainAliases: readString(env, "LATCHKEY_ROOT_SUBDOMAIN_ALIASES", "www")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ""),
    realmHosts: parseRealmHosts(readString(env, "LATCHKEY_REALM_HOSTS", "")),
    rootDomainLandingPage: readBool(env, "LATCHKEY_ROOT_DOMAIN_LANDING_PAGE", false),
    zulipVersion,
    zulipMergeBase: readString(env, "LATCHKEY_ZULIP_MERGE_BASE", zulipVersion),
    zulipFeatureLevel: readInt(env, "LATCHKEY_ZULIP_FEATURE_LEVEL", 371, 0, 100000),
    pushNotificationsEnabled: readBool(env, "LATCHKEY_PUSH_NOTIFICATIONS_ENABLED", false),
    enableGravatar: readBool(env, "LATCHKEY_ENABLE_GRAVATAR", true),
    argon2,
    // One core stays free for the event loop, so API-key checks keep flowing during a login storm.
    hashNice: readInt(env, "LATCHKEY_HASH_NICE", 10, 0, 19),
    hashConcurrency: readInt(env, "LATCHKEY_HASH_CONCURRENCY", Math.max(1, availableParallelism() - 1), 1, 256),
    hashQueueMax: readInt(env, "LATCHKEY_HASH_QUEUE_MAX", 32, 0, 100_000),
    authRateRules,
    userRateRules: readRateRules(env, "LATCHKEY_RATE_LIMIT_USER", "60:200"),
    ipRateRules: readRateRules(env, "LATCHKEY_RATE_LIMIT_IP", "60:100"),
    passwordResetRateRules: readRateRules(env, "LATCHKEY_RATE_LIMIT_PASSWORD_RESET", "3600:2,86400:5"),
    trustedProxies,
    keyCacheSize: readInt(env, "LATCHKEY_KEY_CACHE_SIZE", 10000, 0, 10_000_000),
    keyCacheTtl: readInt(env, "LATCHKEY_KEY_CACHE_TTL", 30, 1, 3600, "seconds"),
    databaseTimeoutMs: readInt(env, "LATCHKEY_DATABASE_TIMEOUT_MS", 5000, 100, 600_000, "milliseconds"),
    headersTimeoutMs,
    requestTimeoutMs,
    metrics: readBool(env, "LATCHKEY_METRICS", mode === "development" || metricsPort !== null),
    metricsPort,
    bodyLimit: readInt(env, "LATCHKEY_BODY_LIMIT", 1024 * 1024, 1024, 100 * 1024 * 1024),
    logLevel: readString(env, "LATCHKEY_LOG_LEVEL", "info"),
    ldap: parseLdapConfig(env),
    oidcIdps: parseOidcIdps(env),
    jwtAuthKeys: parseJwtAuthKeys(env),
    trackKeyUse: readBool(env, "LATCHKEY_TRACK_KEY_USE", true),
    trackKeyUseInterval: readInt(env, "LATCHKEY_TRACK_KEY_USE_INTERVAL", 60, 1, 86_400, "seconds"),
    email: readEmailConfig(env, externalHost, mode),
  };
}
