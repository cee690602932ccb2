/** Wires the rules to their real parts: database, hasher, secrets, cache, throttles. */
import type { Redis } from "ioredis";
import { JoseJwtVerifier } from "./auth/jwt-keys.js";
import { createLdapBackend } from "./auth/ldap-directory.js";
import { OpenIdClient } from "./auth/oidc-client.js";
import { Argon2Hasher } from "./auth/password-hasher.js";
import type { Config } from "./config.js";
import { KeyVault } from "./domain/api-key.js";
import type { Context, ExternalPasswordBackend, Log } from "./domain/context.js";
import { KeyCache } from "./domain/key-cache.js";
import { KeyUseTracker } from "./domain/key-use.js";
import { notifyNewLogin } from "./domain/login-notification.js";
import type { Mailer } from "./domain/mailer.js";
import { type Clock, systemClock } from "./domain/model.js";
import type { PasswordHasher } from "./domain/ports.js";
import { FailClosedLimiter, FallbackLimiter } from "./domain/rate-limit-policies.js";
import { MemoryRateLimiter, type RateLimiter } from "./domain/rate-limiter.js";
import { Site } from "./domain/site.js";
import type { IdentityProviderClient } from "./domain/sso-ports.js";
import { countRefusals, type Telemetry } from "./domain/telemetry.js";
import { MESSAGES } from "./errors.js";
import { withRequestId } from "./logging.js";
import { createMailer } from "./mail/nodemailer-mailer.js";
import { Metrics } from "./metrics.js";
import type { Secrets } from "./secrets.js";
import type { DatabaseHandle } from "./store/database.js";
import { RedisRateLimiter } from "./store/redis-rate-limiter.js";
import { createStores } from "./store/stores.js";

export interface ContextOptions {
  config: Config;
  database: DatabaseHandle;
  secrets: Secrets;
  hasher?: PasswordHasher;
  clock?: Clock;
  authLimiter?: RateLimiter;
  /** Shared rate-limit store; without it every limit counts in this process's memory. */
  redis?: Redis | null;
  /** Prefix of the rate-limit keys in Redis (tests use one of their own). */
  redisPrefix?: string;
  ldap?: ExternalPasswordBackend | null;
  /** The server's logger; nothing is logged without one. */
  log?: Log;
  onLogin?: Context["onLogin"];
  /** Where email goes; by default SMTP or the outbox folder, as configured. */
  mailer?: Mailer;
  /** How long a failed OpenID Connect discovery is remembered before the next login tries again. */
  oidcRetryAfterMs?: number;
  /** The OpenID Connect relying party; by default `openid-client`. */
  oidcClient?: IdentityProviderClient;
  /** Where logins and throttle hits are counted; a fresh `Metrics` by default (buildApp serves it). */
  telemetry?: Telemetry;
}

const quietLog: Log = { info() {}, warn() {}, error() {} };

export function createContext(options: ContextOptions): Context {
  const clock = options.clock ?? systemClock;
  const { config, redis } = options;
  // Lines written while a request is served name it, whoever writes them.
  const log = withRequestId(options.log ?? quietLog);
  const telemetry = options.telemetry ?? new Metrics();
  const shared = redis ? new RedisRateLimiter(redis, clock, options.redisPrefix) : null;
  // Logins and reset emails fail closed without the shared store; API requests fall back to memory.
  const failClosed = (refusal: string) =>
    countRefusals(shared ? new FailClosedLimiter(shared, refusal, log) : new MemoryRateLimiter(clock), telemetry);
  const fallBack = () => {
    const memory = new MemoryRateLimiter(clock);
    return countRefusals(shared ? new FallbackLimiter(shared, memory, clock, log) : memory, telemetry);
  };
  const stores = createStores(options.database.db);
  const site = new Site(config);
  const loginEmails = {
    sendLoginEmails: config.email.sendLoginEmails,
    realmUrl: (realm: { subdomain: string }) => site.urlOf(realm.subdomain),
  };
  const ctx: Context = {
    stores,
    site,
    hasher: options.hasher ?? new Argon2Hasher(config.argon2, config.hashConcurrency, config.hashNice, config.hashQueueMax),
    vault: new KeyVault(options.secrets.hmacPepper, options.secrets.keySealingKey),
    keyCache: new KeyCache({ maxEntries: config.keyCacheSize, ttlMs: config.keyCacheTtl * 1000 }),
    clock,
    authLimiter: options.authLimiter ?? failClosed(MESSAGES.loginUnavailable),
    authRateRules: config.authRateRules,
    limits: {
      user: { limiter: fallBack(), rules: config.userRateRules },
      ip: { limiter: fallBack(), rules: config.ipRateRules },
      passwordReset: { limiter: failClosed(MESSAGES.passwordResetUnavailable), rules: config.passwordResetRateRules },
    },
    ldap: options.ldap ?? (config.ldap === null ? null : createLdapBackend(config.ldap)),
    oidc:
      config.oidcIdps.length === 0
        ? null
        : {
            idps: config.oidcIdps,
            client:
              options.oidcClient ??
              new OpenIdClient({
                clock,
                ...(options.oidcRetryAfterMs === undefined ? {} : { retryAfterMs: options.oidcRetryAfterMs }),
              }),
          },
    jwt: config.jwtAuthKeys.size === 0 ? null : new JoseJwtVerifier(config.jwtAuthKeys, clock),
    mailer: options.mailer ?? createMailer(config.email),
    webSecret: options.secrets.sessionSecret,
    // Zulip's email_on_new_login, unless the caller handles logins itself; every login is logged.
    onLogin:
      options.onLogin ??
      ((user, realm, source) => {
        log.info(
          { reqId: source.requestId, userId: user.id, realm: realm.subdomain, client: source.client, ip: source.ip },
          "api key fetched",
        );
        notifyNewLogin(ctx, loginEmails, user, realm, source);
      }),
    log,
    telemetry,
    keyUse: config.trackKeyUse ? new KeyUseTracker(stores.keyUses, clock, log, config.trackKeyUseInterval * 1000) : null,
  };
  return ctx;
}
