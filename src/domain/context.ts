/** Everything the rules need, passed explicitly: stores, hasher, secrets, cache, limits, time. */

import type { KeyVault } from "./api-key.js";
import type { KeyCache } from "./key-cache.js";
import type { KeyUseTracker } from "./key-use.js";
import type { Mailer } from "./mailer.js";
import type { Clock, Realm, User } from "./model.js";
import type { PasswordHasher, Stores } from "./ports.js";
import type { Limit, RateLimiter } from "./rate-limiter.js";
import type { RateRule } from "./rate-rules.js";
import type { Site } from "./site.js";
import type { JwtVerifier, OidcSettings } from "./sso-ports.js";
import type { Telemetry } from "./telemetry.js";

/** Where a login came from, for notifications and audit. */
export interface LoginSource {
  ip: string;
  userAgent: string;
  client: string;
  /** The id of the request that logged in, so its log lines can be tied together. */
  requestId?: string;
}

/** A backend that checks a username and password against some authority (LDAP, ...). */
export interface ExternalPasswordBackend {
  readonly name: string;
  /** Whether the server is configured for it at all (AUTHENTICATION_BACKENDS). */
  readonly configured: boolean;
  /** Requires email-format usernames (false when it maps plain usernames to accounts). */
  readonly requiresEmailUsernames: boolean;
  authenticate(ctx: Context, attempt: PasswordAttempt, flags: Set<AuthFlag>): Promise<User | null>;
  /**
   * The login name a canonical name stands for, as this backend maps names to people (LDAP with
   * LDAP_APPEND_DOMAIN: `alice` is `alice@<domain>`); the name itself otherwise.
   */
  accountName(canonicalName: string): string;
  /**
   * Zulip's `email_belongs_to_ldap`: whether the person with this email is managed by the
   * directory (LDAP_APPEND_DOMAIN: the email's domain is it; otherwise the reverse email search
   * finds them). Throws DirectoryUnavailableError when the directory cannot be asked.
   */
  managesEmail(email: string): Promise<boolean>;
}

export interface PasswordAttempt {
  realm: Realm;
  username: string;
  password: string;
  /** Aborts when the client goes away; hashing still waiting for its turn is then dropped. */
  signal?: AbortSignal;
}

/** Zulip's `return_data` flags (docs/zulip-rules.md §4.4). */
export type AuthFlag =
  | "inactive_user"
  | "inactive_realm"
  | "password_auth_disabled"
  | "password_reset_needed"
  | "invalid_subdomain"
  | "email_auth_disabled"
  | "no_matching_ldap_user"
  | "outside_ldap_domain"
  | "ldap_unavailable";

/** Where the rules write what operators should know (pino's shape; the server's one logger). */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Context {
  stores: Stores;
  /** Where organizations live: their hosts, URLs and bot domains. */
  site: Site;
  hasher: PasswordHasher;
  vault: KeyVault;
  keyCache: KeyCache;
  clock: Clock;
  authLimiter: RateLimiter;
  authRateRules: RateRule[];
  /**
   * Zulip's other rate-limit domains. Each has a store of its own, so that a flood of keys in
   * one (addresses, say) cannot push another's histories (logins) out of a bounded memory.
   */
  limits: {
    /** `api_by_user`: every authenticated request. */
    user: Limit;
    /** `api_by_ip`: the unauthenticated endpoints that opt in. */
    ip: Limit;
    /** `password_reset_form_by_email`: reset emails per address. */
    passwordReset: Limit;
  };
  /** The LDAP backend when the server has one configured. */
  ldap: ExternalPasswordBackend | null;
  /** OpenID Connect identity providers (`LATCHKEY_OIDC_IDPS`); null when none is configured. */
  oidc: OidcSettings | null;
  /** JWT login's keys (`LATCHKEY_JWT_AUTH_KEYS`); null when no organization has one. */
  jwt: JwtVerifier | null;
  /** Outgoing email (new-login notices, password resets). */
  mailer: Mailer;
  /** Signs the web app's CSRF cookie (derived from the secrets file's session secret). */
  webSecret: Buffer;
  /** Called after every successful API-key login (new-login email, client record). */
  onLogin: (user: User, realm: Realm, source: LoginSource) => void;
  log: Log;
  /** Counts logins and throttle hits for the operators' metrics. */
  telemetry: Telemetry;
  /** Records each key's last use (LATCHKEY_TRACK_KEY_USE); null when that is off. */
  keyUse?: KeyUseTracker | null;
}
