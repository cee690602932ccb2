/**
 * The one catalogue of Zulip error codes Latchkey answers with, and the one error class.
 *
 * Every error a client can see is a `ZulipError`; the error handler in
 * `src/http/plugins/error-envelope.ts` turns it into Zulip's JSON envelope
 * `{"result":"error","msg":...,"code":...}` plus the class's data fields and headers.
 */

/** Zulip's `code` values, each with the meaning a client can rely on. */
export const ERROR_CODES = {
  BAD_REQUEST: "Generic client error (the default code).",
  REQUEST_VARIABLE_MISSING: "A required parameter is missing; `var_name` names it.",
  NONEXISTENT_SUBDOMAIN: "No organization exists at the request's host.",
  AUTHENTICATION_FAILED: "Wrong username or password, or no such account.",
  USER_DEACTIVATED: "The account is deactivated.",
  REALM_DEACTIVATED: "The organization is deactivated.",
  PASSWORD_AUTH_DISABLED: "The organization has neither email nor LDAP login enabled.",
  PASSWORD_RESET_REQUIRED: "The stored password is too weak to keep and must be reset.",
  INVALID_API_KEY: "The API key is malformed or unknown (webhook `api_key` parameter only).",
  UNAUTHORIZED: "Authentication is missing or invalid on an authenticated endpoint.",
  RATE_LIMIT_HIT: "Too many requests; `retry-after` says how many seconds to wait.",
  CSRF_FAILED: "A session request failed the CSRF check.",
  REQUEST_TOO_LARGE: "The request body is larger than the server accepts (Latchkey).",
  UNSUPPORTED_MEDIA_TYPE: "The request body could not be read in its declared encoding (Latchkey).",
  SERVICE_UNAVAILABLE:
    "The shared rate-limit store (Redis) is unreachable, so password logins and reset emails are refused for now; or the LDAP directory is unreachable or too slow, so an LDAP login could not be checked; or too many password checks are already waiting (with `retry-after`); or the database is unreachable or stopped answering (Latchkey, 503).",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export type ErrorData = Record<string, string | number | boolean | string[] | null>;

export interface ZulipErrorOptions {
  status?: number;
  code?: ErrorCode | null;
  data?: ErrorData;
  headers?: Record<string, string>;
}

/**
 * An error whose text is safe to show the client. `code: null` leaves the field out, as
 * Zulip's 405 does.
 */
export class ZulipError extends Error {
  readonly status: number;
  readonly code: ErrorCode | null;
  readonly data: ErrorData;
  readonly headers: Record<string, string>;
  /** Only client errors are shown as they are; 5xx texts are replaced by a generic one. */
  readonly expose: boolean;

  constructor(msg: string, options: ZulipErrorOptions = {}) {
    super(msg);
    this.name = "ZulipError";
    this.status = options.status ?? 400;
    this.code = options.code === undefined ? "BAD_REQUEST" : options.code;
    this.data = options.data ?? {};
    this.headers = options.headers ?? {};
    this.expose = this.status < 500;
  }

  /** The JSON body Zulip sends for this error. */
  toBody(): Record<string, unknown> {
    const body: Record<string, unknown> = { result: "error", msg: this.message };
    if (this.code !== null) body.code = this.code;
    return Object.assign(body, this.data);
  }
}

export const BASIC_CHALLENGE = 'Basic realm="zulip"';
export const SESSION_CHALLENGE = 'Session realm="zulip"';

/** Messages that more than one module sends, written once. */
export const MESSAGES = {
  authenticationFailed: "Your username or password is incorrect",
  userDeactivated: "Account is deactivated",
  realmDeactivated: "This organization has been deactivated",
  passwordAuthDisabled: "Password authentication is disabled in this organization",
  passwordResetRequired: "Your password has been disabled and needs to be reset",
  invalidSubdomain: "Invalid subdomain",
  invalidEmail: "Enter a valid email address.",
  notLoggedIn: "Not logged in: API authentication or user session required",
  malformedApiKey: "Malformed API key",
  invalidApiKey: "Invalid API key",
  wrongSubdomain: "Account is not associated with this subdomain",
  rateLimited: "API usage exceeded rate limit",
  invalidBasicHeader: "Invalid authorization header for basic auth",
  basicRequired: "This endpoint requires HTTP basic authentication.",
  webhookBotNotAllowed: "This API is not available to incoming webhook bots.",
  internal: "Internal server error",
  loginUnavailable: "Password login is temporarily unavailable; please try again later.",
  ldapUnavailable: "LDAP login is temporarily unavailable; please try again later.",
  passwordResetUnavailable: "Password reset is temporarily unavailable; please try again later.",
  databaseUnavailable: "The database is temporarily unavailable; please try again later.",
  loginBusy: "Too many logins are waiting to be checked; please try again later.",
} as const;

export function missingArgument(name: string): ZulipError {
  return new ZulipError(`Missing '${name}' argument`, {
    code: "REQUEST_VARIABLE_MISSING",
    data: { var_name: name },
  });
}

export function authenticationFailed(): ZulipError {
  return new ZulipError(MESSAGES.authenticationFailed, { status: 401, code: "AUTHENTICATION_FAILED" });
}

export function userDeactivated(): ZulipError {
  return new ZulipError(MESSAGES.userDeactivated, { status: 401, code: "USER_DEACTIVATED" });
}

export function realmDeactivated(): ZulipError {
  return new ZulipError(MESSAGES.realmDeactivated, { status: 401, code: "REALM_DEACTIVATED" });
}

export function passwordAuthDisabled(): ZulipError {
  return new ZulipError(MESSAGES.passwordAuthDisabled, { status: 401, code: "PASSWORD_AUTH_DISABLED" });
}

export function passwordResetRequired(): ZulipError {
  return new ZulipError(MESSAGES.passwordResetRequired, { status: 401, code: "PASSWORD_RESET_REQUIRED" });
}

/** A key that is not 32 letters and digits, or that no account holds (docs/zulip-rules.md §5.3's two texts). */
export function invalidApiKey(malformed: boolean): ZulipError {
  return new ZulipError(malformed ? MESSAGES.malformedApiKey : MESSAGES.invalidApiKey, {
    status: 401,
    code: "INVALID_API_KEY",
  });
}

/** Credentials of an account that lives in another organization than the request's host. */
export function wrongSubdomain(): ZulipError {
  return new ZulipError(MESSAGES.wrongSubdomain);
}

export function invalidEmail(): ZulipError {
  return new ZulipError(MESSAGES.invalidEmail);
}

export function invalidSubdomain(): ZulipError {
  return new ZulipError(MESSAGES.invalidSubdomain, { status: 404, code: "NONEXISTENT_SUBDOMAIN" });
}

/** 401 UNAUTHORIZED with the Basic challenge: what every Basic-auth failure becomes (§5.3). */
export function unauthorizedBasic(msg: string): ZulipError {
  return new ZulipError(msg, {
    status: 401,
    code: "UNAUTHORIZED",
    headers: { "www-authenticate": BASIC_CHALLENGE },
  });
}

/**
 * No credentials at all on an authenticated endpoint: 401 with the challenge of the kind of
 * endpoint (Basic under `/api`, the session under `/json`).
 */
export class NotLoggedInError extends ZulipError {
  constructor(readonly challenge: typeof BASIC_CHALLENGE | typeof SESSION_CHALLENGE) {
    super(MESSAGES.notLoggedIn, { status: 401, code: "UNAUTHORIZED", headers: { "www-authenticate": challenge } });
    this.name = "NotLoggedInError";
  }
}

/** 429 RATE_LIMIT_HIT, with the seconds to wait in the body and in `Retry-After`. */
export class RateLimitError extends ZulipError {
  constructor(readonly retryAfter: number) {
    super(MESSAGES.rateLimited, {
      status: 429,
      code: "RATE_LIMIT_HIT",
      data: { "retry-after": retryAfter },
      headers: { "retry-after": String(retryAfter) },
    });
    this.name = "RateLimitError";
  }
}

export function rateLimited(secondsToFreedom: number): RateLimitError {
  return new RateLimitError(secondsToFreedom);
}

/** 503 SERVICE_UNAVAILABLE: a dependency that guards the action is down, so it is refused. */
export class ServiceUnavailableError extends ZulipError {
  constructor(msg: string, extra: { headers?: Record<string, string>; data?: ErrorData } = {}) {
    super(msg, { status: 503, code: "SERVICE_UNAVAILABLE", headers: extra.headers ?? {}, data: extra.data ?? {} });
    this.name = "ServiceUnavailableError";
  }
}

export function serviceUnavailable(msg: string): ServiceUnavailableError {
  return new ServiceUnavailableError(msg);
}

/**
 * 503: too many password checks are already waiting, so this one is refused at once rather than
 * queued (LATCHKEY_HASH_QUEUE_MAX). `retry-after` says when the queue is likely to have room.
 */
export class HashQueueFullError extends ServiceUnavailableError {
  constructor(readonly retryAfter: number) {
    super(MESSAGES.loginBusy, { headers: { "retry-after": String(retryAfter) }, data: { "retry-after": retryAfter } });
    this.name = "HashQueueFullError";
  }
}

/**
 * The client closed its connection while its request waited (for the password hasher, say), so
 * the work is dropped. Nobody receives this answer; the status is nginx's 499, and it is not an
 * error of the server.
 */
export class ClientGoneError extends ZulipError {
  constructor() {
    super("Client closed the request", { status: 499, code: null });
    this.name = "ClientGoneError";
  }
}
