/**
 * The web app: `/login/`, logout, the mobile and desktop login flows, Settings → Account &
 * privacy and Your bots, password reset, the development email outbox, and the `/json/...`
 * endpoints the pages call. One encapsulated Fastify plugin registers them all: cookies, CSRF,
 * static files and the security headers apply to these routes only, never to the `/api` hot
 * path. Each page or flow is a module of its own under `routes/`.
 */
import { createHmac } from "node:crypto";
import cookie from "@fastify/cookie";
import csrf from "@fastify/csrf-protection";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { Context } from "../domain/context.js";
import { resolveSession } from "../domain/sessions.js";
import { ZulipError } from "../errors.js";
import { registerBotRoutes } from "../http/routes/bots.js";
import { registerJsonFetchApiKey } from "../http/routes/fetch-api-key.js";
import { setWebErrorHandler } from "./error-pages.js";
import { field } from "./page-kit.js";
import { registerDesktopLoginRoute } from "./routes/desktop-login.js";
import { registerDevLoginRoutes } from "./routes/dev-login.js";
import { registerLoginRoutes } from "./routes/login.js";
import { registerLogoutRoutes } from "./routes/logout.js";
import { registerPasswordResetRoutes } from "./routes/password-reset.js";
import { registerSettingsRoutes } from "./routes/settings.js";
import { registerBotsSettingsRoute } from "./routes/settings-bots.js";
import { isApiPath, writeSecurityHeaders } from "./security-headers.js";
import { makeSessionAuthenticator } from "./session-auth.js";
import { SESSION_COOKIE } from "./session-cookie.js";
import { registerStaticFiles } from "./static-files.js";

export interface WebOptions {
  ctx: Context;
  config: Config;
}

export const CSRF_COOKIE = "csrftoken";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export async function registerWeb(app: FastifyInstance, options: WebOptions): Promise<void> {
  // biome-ignore lint/nursery/noMisusedPromises: Fastify awaits async plugins.
  await app.register(webPlugin, options);
}

async function webPlugin(app: FastifyInstance, { ctx, config }: WebOptions): Promise<void> {
  const secure = ctx.site.secure;
  // The CSRF cookie is signed with a key of its own, derived from the session secret.
  const cookieSecret = createHmac("sha256", ctx.webSecret).update("latchkey csrf cookie").digest();
  await app.register(cookie, { secret: cookieSecret });
  await app.register(csrf, {
    cookieKey: CSRF_COOKIE,
    cookieOpts: { path: "/", sameSite: "lax", httpOnly: true, secure, signed: true },
    getToken: (request: FastifyRequest) => field(request, "_csrf") ?? (request.headers["x-csrf-token"] as string | undefined),
  });
  app.decorateRequest("webSession", null);

  app.addHook("onRequest", async (request, reply) => {
    // `/json/x/../..` reaches a page's route; a path sent under /api or /json gets JSON or nothing.
    if (isApiPath(request) && !(request.routeOptions.url ?? "").startsWith("/json/")) {
      throw new ZulipError("Not Found", { status: 404 });
    }
    writeSecurityHeaders(request, reply);
    if (!request.url.startsWith("/static/")) reply.header("cache-control", "no-store");
  });
  app.addHook("preHandler", async (request) => {
    if (request.url.startsWith("/static/")) return;
    const id = request.cookies[SESSION_COOKIE];
    request.webSession = id === undefined ? null : await resolveSession(ctx, id);
  });
  setWebErrorHandler(app, { secure });
  await registerStaticFiles(app);

  const devMode = config.mode === "development";
  registerLoginRoutes(app, ctx, { devMode });
  if (devMode) registerDevLoginRoutes(app, ctx, { outboxDir: config.email.outboxDir ?? "./var/outbox" });
  registerDesktopLoginRoute(app, ctx);
  registerLogoutRoutes(app, ctx);
  registerSettingsRoutes(app, ctx);
  registerBotsSettingsRoute(app, ctx);
  registerPasswordResetRoutes(app, ctx);

  // The /json endpoints: a session, with CSRF on state-changing methods (never Basic).
  const authenticateJson = makeSessionAuthenticator(ctx);
  // biome-ignore lint/nursery/noMisusedPromises: Fastify awaits async plugins.
  await app.register(async (json) => {
    json.addHook("preHandler", (request, reply, done) => {
      if (request.webSession === null || SAFE_METHODS.has(request.method)) return done();
      app.csrfProtection(request, reply, done);
    });
    registerJsonFetchApiKey(json, ctx, authenticateJson);
    // The bots API with a session, for Settings → Your bots.
    registerBotRoutes(json, { ctx, config, prefix: "/json", authenticate: authenticateJson });
  });
}
