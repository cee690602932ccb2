/**
 * Runs Latchkey: opens the database and secrets, builds the app, listens, and shuts down
 * gracefully on SIGINT/SIGTERM.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { buildApp } from "./app.js";
import type { HashGate } from "./auth/hash-pool.js";
import { Argon2Hasher } from "./auth/password-hasher.js";
import { bootWarnings, type Config, requireMailDestination } from "./config.js";
import { createContext } from "./context.js";
import type { Context } from "./domain/context.js";
import { ConfigError } from "./env.js";
import { createLogger } from "./logging.js";
import { Metrics } from "./metrics.js";
import { loadOrCreateSecrets } from "./secrets.js";
import { DEMO_PASSWORD, DEMO_USERS, seedDemo } from "./seed.js";
import { syncKeyCache } from "./store/cache-sync.js";
import { type DatabaseHandle, openDatabase } from "./store/database.js";
import { closeRedis, openRedis } from "./store/redis.js";

export interface RunningServer {
  app: FastifyInstance;
  ctx: Context;
  database: DatabaseHandle;
  url: string;
  close(): Promise<void>;
}

/** How a server runs inside `serve --workers` (src/cluster.ts); a lone server needs none of it. */
export interface ServerOptions {
  /** Permission to hash, shared by every worker of the machine. */
  hashGate?: HashGate;
  /** Renders `/metrics` (the primary's sum over every worker) instead of this process's own. */
  renderMetrics?: () => Promise<{ contentType: string; body: string }>;
  /** False: never serve LATCHKEY_METRICS_PORT here (the primary does). */
  metricsPort?: boolean;
  /** False: leave the boot warnings about the settings to the primary. */
  bootWarnings?: boolean;
}

export async function startServer(
  config: Config,
  out: (line: string) => void = console.log,
  options: ServerOptions = {},
): Promise<RunningServer> {
  if (config.mode === "production") requireMailDestination(config);
  const secrets = loadOrCreateSecrets(config.secretsFile);
  const database = await openDatabase(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs });
  // One logger for the HTTP layer and the rules: lines about a request carry its id.
  const logger = createLogger(config.logLevel);
  // Under `serve --workers` the primary says these once.
  if (options.bootWarnings !== false) for (const warning of bootWarnings(config)) logger.warn(warning);
  let ctx: Context;
  let app: FastifyInstance;
  let sync: { close(): Promise<void> } | null = null;
  let redis: Redis | null = null;
  let metricsServer: Server | null = null;
  const hasher = new Argon2Hasher(config.argon2, config.hashConcurrency, config.hashNice, config.hashQueueMax);
  const metrics = new Metrics({ processMetrics: true });
  metrics.watchHasher(hasher);
  if (options.hashGate !== undefined) hasher.shareGate(options.hashGate);
  if (options.renderMetrics !== undefined) metrics.renderWith(options.renderMetrics);
  try {
    if (config.redisUrl !== null) redis = await openRedis(config.redisUrl, logger);
    ctx = createContext({ config, database, secrets, redis, log: logger, hasher, telemetry: metrics });
    const readiness = [{ name: "database", check: () => ctx.stores.ping() }];
    const shared = redis;
    if (shared !== null) readiness.push({ name: "redis", check: () => shared.ping().then(() => {}) });
    app = await buildApp({ config, ctx, logger, readiness, metrics });
    // The context's logger: a broadcast that fails while a request is served names the request.
    sync = await syncKeyCache(database, ctx.keyCache, ctx.log, redis);
    if (config.mode === "development" && (await seedDemo(ctx))) {
      out("Created the demo organization.");
    }
    await app.listen({ port: config.port, host: config.host }).catch((err: NodeJS.ErrnoException) => {
      // The usual first-run stumble (another server on the port): a sentence, not a stack trace.
      if (err.code === "EADDRINUSE" || err.code === "EACCES") {
        const why = err.code === "EADDRINUSE" ? "is already in use" : "needs privileges this process lacks";
        throw new ConfigError("PORT", `${config.host}:${config.port} ${why}; set PORT (or HOST) to listen elsewhere`);
      }
      throw err;
    });
    if (config.metrics && config.metricsPort !== null)
      metricsServer = await serveMetrics(metrics, config.host, config.metricsPort);
  } catch (err) {
    await sync?.close();
    if (redis !== null) await closeRedis(redis);
    await hasher.close();
    await database.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  const url = ctx.site.rootUrl;
  if (config.mode === "development") {
    out(`Latchkey (development) listening on http://${config.host}:${port} — organization at ${url}`);
    out(`Log in with any of these (password ${JSON.stringify(DEMO_PASSWORD)}):`);
    for (const u of DEMO_USERS) out(`  ${u.email}`);
    out(`  Web app: ${url}/login/ (outgoing emails: ${url}/devtools/emails)`);
    out(
      `  curl -sSX POST ${url}/api/v1/fetch_api_key --data-urlencode username=${DEMO_USERS[0].email} --data-urlencode password=${DEMO_PASSWORD}`,
    );
  } else {
    out(`Latchkey listening on ${config.host}:${port}`);
  }
  if (metricsServer !== null) {
    const metricsAddress = metricsServer.address();
    out(
      `Metrics on ${config.host}:${typeof metricsAddress === "object" && metricsAddress !== null ? metricsAddress.port : config.metricsPort}/metrics`,
    );
  }

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      // Requests still being sent or answered get this long; then their connections are cut.
      const force = setTimeout(() => app.server.closeAllConnections(), DRAIN_MS);
      force.unref();
      // A keep-alive connection whose request was in flight becomes idle once answered; it is
      // closed then, rather than when its keep-alive timeout runs out.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      sweep.unref();
      // Stops listening at once (new connections are refused), answers 503 to new requests on
      // open connections, and waits for the requests in flight.
      await app.close();
      clearTimeout(force);
      clearInterval(sweep);
      if (metricsServer !== null) await closeServer(metricsServer);
      // The key uses noted by the last requests are written before the database closes.
      await ctx.keyUse?.flush();
      await sync?.close();
      if (redis !== null) await closeRedis(redis);
      await hasher.close();
      await database.close();
    })();
    return closing;
  };
  return { app, ctx, database, url, close };
}

/** How long a shutdown waits for requests in flight. */
const DRAIN_MS = 30_000;

/** `/metrics` on a port of its own (everything else there is a 404). */
export async function serveMetrics(
  metrics: { render(): Promise<{ contentType: string; body: string }> },
  host: string,
  port: number,
): Promise<Server> {
  const server = createHttpServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n");
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => response.writeHead(200, { "content-type": contentType }).end(body),
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new ConfigError("LATCHKEY_METRICS_PORT", `${host}:${port} is already in use`) : err),
    );
    server.listen(port, host, resolve);
  });
  return server;
}

/** Closes a plain HTTP server and every connection it has. */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Closes the server on SIGINT/SIGTERM: new connections are refused, requests in flight finish,
 * the pools (database, Redis, hashing threads) close, and the process exits 0.
 */
export function closeOnSignals(server: RunningServer): void {
  const stop = (signal: string) => {
    server.app.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
