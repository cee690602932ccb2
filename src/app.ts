/**
 * Builds the Fastify application. It never listens: `src/server.ts` does, and tests drive it
 * through `app.inject()` or a port of their own.
 */
import { randomBytes } from "node:crypto";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from "fastify";
import type { Config } from "./config.js";
import type { Context } from "./domain/context.js";
import { makeRestAuthenticator } from "./http/authenticate.js";
import { registerBodyParsers } from "./http/plugins/body-parsers.js";
import { registerErrorEnvelope, sendFrameworkError } from "./http/plugins/error-envelope.js";
import { registerRateLimits } from "./http/plugins/rate-limits.js";
import "./http/request-state.js";
import { registerBotRoutes } from "./http/routes/bots.js";
import { registerDevLogin } from "./http/routes/dev-login.js";
import { registerFetchApiKey } from "./http/routes/fetch-api-key.js";
import { registerKeyLifecycle } from "./http/routes/key-lifecycle.js";
import { registerLastUse } from "./http/routes/last-use.js";
import { registerServerSettings } from "./http/routes/server-settings.js";
import { registerUsersMe } from "./http/routes/users-me.js";
import { registerWeb, sendNotFoundPage } from "./web/plugin.js";
import { startBrowserSession } from "./web/session-cookie.js";

export interface BuildAppOptions {
  config: Config;
  ctx: Context;
  /** Fastify's logger option: false for none, or pino options. */
  logger?: FastifyServerOptions["logger"];
}

const SENSITIVE_PARAMS = new Set(["password", "api_key", "key", "token", "otp", "mobile_flow_otp", "desktop_flow_otp"]);

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
export function loggerOptions(level: string): FastifyServerOptions["logger"] {
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

/** Zulip's bodies end with a newline; the schema serializers are wrapped to match. */
function newlineSerializers(app: FastifyInstance): void {
  const factory = SerializerSelector()();
  app.setSerializerCompiler((route) => {
    const serialize = factory({ ...route, httpStatus: route.httpStatus ?? "200" });
    return (data: unknown) => `${serialize(data)}\n`;
  });
  app.setReplySerializer((payload) => `${JSON.stringify(payload)}\n`);
}

// Request ids: a random per-process prefix and a counter, unique across nodes and restarts.
const REQUEST_ID_PREFIX = randomBytes(6).toString("hex");
let requestCount = 0;

export async function buildApp({ config, ctx, logger = false }: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger,
    bodyLimit: config.bodyLimit,
    requestIdHeader: false,
    genReqId: () => `${REQUEST_ID_PREFIX}-${(++requestCount).toString(36)}`,
    // X-Forwarded-For is believed only from the configured proxies; otherwise the socket's
    // address is the client's, whatever headers say.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // Unparseable URLs get the JSON envelope (and a request id) like every other client error.
    frameworkErrors: sendFrameworkError,
    return503OnClosing: true,
    routerOptions: { ignoreDuplicateSlashes: true },
  });
  newlineSerializers(app);

  app.decorateRequest("principal", null);
  app.decorateRequest("apiKeyDigest", null);
  app.decorateRequest("processedParams", null);
  // Read from the Host header when asked (the resolver memoizes hosts), so that requests pay
  // for no hook. The request id goes out with every answer: see src/http/endpoint.ts and the
  // error envelope.
  app.decorateRequest("subdomain", {
    getter(this: FastifyRequest) {
      return ctx.site.subdomainOf(this.headers.host);
    },
  });

  const authenticate = makeRestAuthenticator(ctx);
  registerErrorEnvelope(app, { authenticate, notFoundPage: sendNotFoundPage });
  await registerBodyParsers(app, config.bodyLimit);
  registerRateLimits(app, ctx);

  registerFetchApiKey(app, ctx);
  registerServerSettings(app, ctx, config);
  registerUsersMe(app, config, authenticate);
  registerKeyLifecycle(app, ctx, authenticate);
  registerBotRoutes(app, { ctx, config, prefix: "/api/v1", authenticate });
  registerLastUse(app, ctx, authenticate);
  if (config.mode === "development") {
    registerDevLogin(app, ctx, {
      startBrowserSession: (request, reply, user) => startBrowserSession(ctx, request, reply, user, ctx.site.secure),
    });
  }
  await registerWeb(app, { ctx, config, restAuth: authenticate });

  return app;
}
