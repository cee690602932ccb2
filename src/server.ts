/**
 * Runs Latchkey: opens the database and secrets, builds the app, listens, and shuts down
 * gracefully on SIGINT/SIGTERM.
 */
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { buildApp } from "./app.js";
import type { Config } from "./config.js";
import { createContext } from "./context.js";
import type { Context } from "./domain/context.js";
import { ConfigError } from "./env.js";
import { createLogger } from "./logging.js";
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

export async function startServer(config: Config, out: (line: string) => void = console.log): Promise<RunningServer> {
  const secrets = loadOrCreateSecrets(config.secretsFile);
  const database = await openDatabase(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs });
  // One logger for the HTTP layer and the rules: lines about a request carry its id.
  const logger = createLogger(config.logLevel);
  let ctx: Context;
  let app: FastifyInstance;
  let sync: { close(): Promise<void> } | null = null;
  let redis: Redis | null = null;
  try {
    if (config.redisUrl !== null) redis = await openRedis(config.redisUrl, logger);
    ctx = createContext({ config, database, secrets, redis, log: logger });
    const readiness = [{ name: "database", check: () => ctx.stores.ping() }];
    const shared = redis;
    if (shared !== null) readiness.push({ name: "redis", check: () => shared.ping().then(() => {}) });
    app = await buildApp({ config, ctx, logger, readiness });
    sync = await syncKeyCache(database, ctx.keyCache, logger, redis);
    if (config.mode === "development" && (await seedDemo(ctx))) {
      out("Created the demo organization.");
    }
    // Slow clients must not hold sockets forever.
    app.server.requestTimeout = 30_000;
    app.server.headersTimeout = 15_000;
    app.server.keepAliveTimeout = 65_000;
    await app.listen({ port: config.port, host: config.host }).catch((err: NodeJS.ErrnoException) => {
      // The usual first-run stumble (another server on the port): a sentence, not a stack trace.
      if (err.code === "EADDRINUSE" || err.code === "EACCES") {
        const why = err.code === "EADDRINUSE" ? "is already in use" : "needs privileges this process lacks";
        throw new ConfigError("PORT", `${config.host}:${config.port} ${why}; set PORT (or HOST) to listen elsewhere`);
      }
      throw err;
    });
  } catch (err) {
    await sync?.close();
    if (redis !== null) await closeRedis(redis);
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

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      await app.close();
      await sync?.close();
      if (redis !== null) await closeRedis(redis);
      await database.close();
    })();
    return closing;
  };
  return { app, ctx, database, url, close };
}

/** Closes the server on SIGINT/SIGTERM, letting requests in flight finish. */
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
