/**
 * Builds the Fastify application. It never listens: `src/server.ts` does, and tests drive it
 * through `app.inject()` or a port of their own.
 */
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Config } from "./config.js";
import type { Context } from "./domain/context.js";
import { makeRestAuthenticator } from "./http/authenticate.js";
import {
  type ClientErrorSink,
  CONNECTION_TIMEOUT_MS,
  CONNECTIONS_CHECKING_INTERVAL_MS,
  MAX_REQUESTS_PER_SOCKET,
  makeClientErrorHandler,
} from "./http/client-errors.js";
import { acceptEveryMethod } from "./http/endpoint.js";
import { registerBodyParsers } from "./http/plugins/body-parsers.js";
import { registerErrorEnvelope, sendFrameworkError } from "./http/plugins/error-envelope.js";
import { registerHashGate } from "./http/plugins/hash-gate.js";
import { registerOpenApi } from "./http/plugins/openapi.js";
import { registerOperations } from "./http/plugins/operations.js";
import { registerRateLimits } from "./http/plugins/rate-limits.js";
import { newRequestId } from "./http/request-id.js";
import "./http/request-state.js";
import { registerBotRoutes } from "./http/routes/bots.js";
import { registerDevLogin } from "./http/routes/dev-login.js";
import { registerFetchApiKey } from "./http/routes/fetch-api-key.js";
import { type ReadinessCheck, registerHealth } from "./http/routes/health.js";
import { registerJwtFetchApiKey } from "./http/routes/jwt-fetch-api-key.js";
import { registerKeyLifecycle } from "./http/routes/key-lifecycle.js";
import { registerLastUse } from "./http/routes/last-use.js";
import { registerServerSettings } from "./http/routes/server-settings.js";
import { registerUsersMe } from "./http/routes/users-me.js";
import { Metrics } from "./metrics.js";
import { registerWeb } from "./web/index.js";
import { sendNotFoundPage } from "./web/not-found.js";
import { startBrowserSession } from "./web/session-cookie.js";

export interface BuildAppOptions {
  config: Config;
  ctx: Context;
  /** The logger (`createLogger` in src/logging.ts), the same one the context logs to; none by default. */
  logger?: FastifyBaseLogger;
  /** What `/health/ready` checks; the database by default (the server adds Redis when configured). */
  readiness?: ReadinessCheck[];
  /**
   * The process's metrics; by default the context's telemetry when it is a `Metrics` (as
   * createContext makes it), so logins counted by the rules show on the same page.
   */
  metrics?: Metrics;
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

/** The package's version, the version of the API document. */
function packageVersion(): string {
  return (createRequire(import.meta.url)("../package.json") as { version: string }).version;
}

export async function buildApp({ config, ctx, logger, readiness, metrics }: BuildAppOptions): Promise<FastifyInstance> {
  // Filled in once the app exists; the client-error handler only runs after it listens.
  let clientErrors: ClientErrorSink;
  const app: FastifyInstance = Fastify({
    ...(logger === undefined ? { logger: false } : { loggerInstance: logger }),
    bodyLimit: config.bodyLimit,
    requestIdHeader: false,
    genReqId: newRequestId,
    // Slow or greedy clients cannot hold a connection (src/http/client-errors.ts): headers and
    // whole requests have deadlines, checked every second; a request whose connection stalls
    // is cut; a connection carries a bounded number of requests (pipelined ones included).
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS },
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: 65_000,
    maxRequestsPerSocket: MAX_REQUESTS_PER_SOCKET,
    clientErrorHandler: makeClientErrorHandler((): ClientErrorSink => clientErrors),
    // X-Forwarded-For is believed only from the configured proxies; otherwise the socket's
    // address is the client's, whatever headers say.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // Unparseable URLs get the JSON envelope (and a request id) like every other client error.
    frameworkErrors: sendFrameworkError,
    return503OnClosing: true,
    routerOptions: { ignoreDuplicateSlashes: true },
  });
  newlineSerializers(app);
  const served = config.metrics ? (metrics ?? (ctx.telemetry instanceof Metrics ? ctx.telemetry : new Metrics())) : null;
  clientErrors = { log: app.log, newRequestId, count: (reason) => served?.rejectedByHttp(reason) };
  // A connection that pipelines past the requests it may carry is cut at once: answering each
  // extra request (Node's 503) would let one client queue thousands of answers.
  app.server.on("dropRequest", (_request: unknown, socket: Socket) => {
    if (socket.destroyed) return;
    clientErrors.count("too_many_requests");
    app.log.info(
      { reqId: newRequestId(), reason: "too_many_requests", remoteAddress: socket.remoteAddress },
      "request refused by the HTTP layer",
    );
    socket.destroy();
  });
  // A request whose connection shows no traffic (a client that stopped reading its answers).
  app.server.on("timeout", (socket: Socket) => {
    clientErrors.count("stalled");
    socket.destroy();
  });
  served?.watchKeyCache(ctx.keyCache);
  registerOperations(app, { metrics: served, serveMetrics: config.metricsPort === null });
  acceptEveryMethod(app);

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
  await registerBodyParsers(app);
  registerRateLimits(app, ctx);
  registerHashGate(app, ctx);
  // Before every route, so the document sees them all.
  await registerOpenApi(app, { version: packageVersion() });

  registerFetchApiKey(app, ctx);
  registerJwtFetchApiKey(app, ctx, config);
  registerServerSettings(app, ctx, config);
  registerUsersMe(app, config, authenticate);
  registerKeyLifecycle(app, ctx, authenticate);
  registerBotRoutes(app, { ctx, config, prefix: "/api/v1", authenticate });
  registerLastUse(app, ctx, authenticate);
  registerHealth(app, readiness ?? [{ name: "database", check: () => ctx.stores.ping() }], ctx.keyCache);
  if (config.mode === "development") {
    registerDevLogin(app, ctx, {
      startBrowserSession: (request, reply, user) => startBrowserSession(ctx, request, reply, user, ctx.site.secure),
    });
  }
  await registerWeb(app, { ctx, config });

  return app;
}
