/**
 * The server's logger: pino, with no credential, cookie or secret query value in any line. One
 * logger serves the HTTP layer (request lines carry their request id) and the rules behind it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Writable } from "node:stream";
import type { FastifyRequest } from "fastify";
import { type Logger, pino } from "pino";

// `code` and `state`: an identity provider's answer (a single-use code, and the state that ties it to a browser).
const SENSITIVE_PARAMS = new Set([
  "password",
  "api_key",
  "key",
  "token",
  "otp",
  "mobile_flow_otp",
  "desktop_flow_otp",
  "code",
  "state",
]);

/** A query-string name as the server will read it: percent-decoded, `+` as space, lower-cased. */
function paramName(raw: string): string {
  let name = raw.replace(/\+/g, " ");
  try {
    name = decodeURIComponent(name);
  } catch {
    // Malformed escapes: compare the raw text.
  }
  return name.trim().toLowerCase().replace(/\[\]$/, "");
}

/**
 * The request URL with secret-bearing query values masked, for logs. Names are compared as the
 * server reads them, so `pass%77ord=` is masked too; the fragment after a stray `#` is dropped.
 */
export function redactUrl(rawUrl: string): string {
  // The desktop app's one-time login token travels in the path (Zulip's URL).
  const url = rawUrl.replace(/^(\/accounts\/login\/subdomain\/)[^/?#]+/i, "$1[redacted]");
  const q = url.indexOf("?");
  if (q === -1) return url;
  const pairs = url
    .slice(q + 1)
    .split("#", 1)[0]
    ?.split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return SENSITIVE_PARAMS.has(paramName(name)) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${(pairs ?? []).join("&")}`;
}

/** Default logger settings: no credentials, cookies or secret query values in any line. */
export function loggerOptions(level: string): pino.LoggerOptions {
  return {
    level,
    redact: {
      paths: ["req.headers.authorization", "req.headers.cookie", "res.headers['set-cookie']", "*.password", "*.api_key"],
      censor: "[redacted]",
    },
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: redactUrl(req.url),
        host: req.headers.host,
        remoteAddress: req.ip,
      }),
    },
  };
}

/** A logger at `level`, writing to standard output or to `stream`. */
export function createLogger(level: string, stream?: Writable): Logger {
  return stream === undefined ? pino(loggerOptions(level)) : pino(loggerOptions(level), stream);
}

/**
 * The id of the request being served, carried through everything it awaits, so that lines
 * written by code that is not handed the request's logger (a shared limiter, a background
 * write the request started) still name the request.
 */
const requestScope = new AsyncLocalStorage<string>();

/** Runs `next` (the rest of a request's handling) with `requestId` as the current request. */
export function enterRequestScope(requestId: string, next: () => void): void {
  requestScope.run(requestId, next);
}

interface LevelLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** `log`, adding the current request's id (`reqId`) to every line written while serving one. */
export function withRequestId<L extends LevelLog>(log: L): LevelLog {
  const write =
    (level: "info" | "warn" | "error") =>
    (obj: object, msg?: string): void => {
      const reqId = requestScope.getStore();
      log[level](reqId === undefined || "reqId" in obj ? obj : { reqId, ...obj }, msg);
    };
  return { info: write("info"), warn: write("warn"), error: write("error") };
}
