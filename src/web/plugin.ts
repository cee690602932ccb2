/**
 * The web app: `/login/`, logout, the mobile and desktop login flows, Settings → Account &
 * privacy, password reset, the development email outbox, and the `/json/...` endpoints the
 * pages call. Everything here is one encapsulated Fastify plugin: cookies, CSRF, static files
 * and the security headers apply to these routes only, never to the `/api` hot path.
 */
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import cookie from "@fastify/cookie";
import csrf from "@fastify/csrf-protection";
import fastifyStatic from "@fastify/static";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import { generateApiKey } from "../domain/api-key.js";
import type { AuthFlag, Context } from "../domain/context.js";
import { revealApiKey } from "../domain/directory.js";
import { isValidEmail } from "../domain/email.js";
import {
  findActiveUser,
  ldapEnabled,
  loginWithPassword,
  passwordAuthEnabled,
  requireEmailFormatUsernames,
} from "../domain/login.js";
import { isRealmAdmin, type Realm, type User } from "../domain/model.js";
import { consumeOneTimeToken, storeOneTimeToken } from "../domain/one-time-tokens.js";
import { encryptForDesktop, isValidOtp, mobileFlowLocation, otpEncryptApiKey } from "../domain/otp.js";
import { completePasswordReset, RESET_LINK_INVALID, requestPasswordReset, userForResetToken } from "../domain/password-reset.js";
import { endSession, resolveSession, SESSION_AGE_MS, startSession } from "../domain/sessions.js";
import { zuliprcDataUrl, zuliprcFor } from "../domain/zuliprc.js";
import { MESSAGES, ZulipError } from "../errors.js";
import { prefersHtml } from "../http/accept.js";
import { registerEndpoint } from "../http/endpoint.js";
import { bag, lastString, readParam } from "../http/params.js";
import { recordRateDecision } from "../http/plugins/rate-limits.js";
import { loginSource } from "../http/request-info.js";
import { registerBotRoutes } from "../http/routes/bots.js";
import { successSchema } from "../http/schemas.js";
import { listOutbox } from "../mail/nodemailer-mailer.js";
import { type BotEntry, botsSettingsPage } from "./bots-page.js";
import { html } from "./html.js";
import { csrfField, messagePage } from "./layout.js";
import {
  accountSettingsPage,
  desktopRedirectPage,
  devEmailsPage,
  loginPage,
  newPasswordPage,
  passwordResetRequestPage,
  passwordResetSentPage,
} from "./pages.js";
import { checkSessionAccount, makeSessionAuthenticator, NotLoggedInError } from "./session-auth.js";
import { SESSION_COOKIE, sessionCookieOptions } from "./session-cookie.js";

export interface WebOptions {
  ctx: Context;
  config: Config;
  /** The Basic-auth check of `/api`, which `/json` also accepts (§5.1). */
  restAuth: (request: FastifyRequest) => void | Promise<void>;
}

export { SESSION_COOKIE } from "./session-cookie.js";
export const CSRF_COOKIE = "csrftoken";
/** How long the desktop app has to redeem its one-time login token (Zulip: 15 s). */
export const DESKTOP_TOKEN_MS = 15_000;

const STATIC_ROOT = join(dirname(fileURLToPath(import.meta.url)), "static");
const requireFrom = createRequire(import.meta.url).resolve;

/** No inline script or style anywhere; `zulip:` is where the mobile flow's form ends up. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self' zulip:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

const API_PATH = /^\/(api|json)(\/|$)/i;

/** The path as the client sent it, doubled slashes collapsed. */
function sentPath(request: FastifyRequest): string {
  return (request.url.split("?", 1)[0] ?? "").replace(/\/{2,}/g, "/");
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const OTP_BOTH = "Can't use both mobile_flow_otp and desktop_flow_otp together.";

/** A form field from the body (never the query string: secrets do not belong in URLs). */
function field(request: FastifyRequest, name: string): string | undefined {
  return lastString(bag(request.body)?.[name]);
}

function queryValue(request: FastifyRequest, name: string): string | undefined {
  return lastString(bag(request.query)?.[name]);
}

/** "Try again in N seconds." for a 429. */
function tryAgainIn(err: ZulipError): string {
  return `Try again in ${Math.ceil(Number(err.data["retry-after"]))} seconds.`;
}

/** A local path to go to after logging in; anything else (other hosts, `//x`) is ignored. */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith("/") || next.startsWith("//")) return "/settings/account";
  // Browsers drop tabs and line breaks and read `\` as `/`, so `/\tevil` or `/\\evil` would leave
  // the site; control characters must never reach a Location header either.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: those are exactly what is refused.
  if (/[\s\\\u0000-\u001f\u007f]/.test(next)) return "/settings/account";
  return next;
}

interface Otps {
  mobile?: string;
  desktop?: string;
}

/** §10's validation: both → the "Can't use both" error; a malformed one → "Invalid OTP". */
function readOtps(mobile: string | undefined, desktop: string | undefined): Otps | { error: string } {
  if (mobile !== undefined && desktop !== undefined) return { error: OTP_BOTH };
  if (mobile !== undefined && !isValidOtp(mobile)) return { error: "Invalid OTP" };
  if (desktop !== undefined && !isValidOtp(desktop)) return { error: "Invalid OTP" };
  return { ...(mobile === undefined ? {} : { mobile }), ...(desktop === undefined ? {} : { desktop }) };
}

function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type("text/html; charset=utf-8").send(body);
}

/** The headers every web answer carries: no inline script, no framing, no sniffing, no referrer. */
function writeSecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  // Reset links carry their token in the URL: it must not leak to other sites.
  reply.header("referrer-policy", "no-referrer");
  reply.header("x-request-id", request.id);
}

/**
 * A browser that opens a page that does not exist (a mistyped URL, an old bookmark) gets a page
 * saying so, not the API's JSON; API clients and `/api`, `/json` paths keep the JSON 404.
 */
export function sendNotFoundPage(request: FastifyRequest, reply: FastifyReply): FastifyReply | null {
  if (API_PATH.test(sentPath(request)) || !prefersHtml(request.headers.accept)) return null;
  writeSecurityHeaders(request, reply);
  return sendHtml(
    reply.header("cache-control", "no-store"),
    404,
    messagePage("Page not found", html`There is no page at this address. <a href="/login/">Go to the login page</a>.`),
  );
}

export async function registerWeb(app: FastifyInstance, options: WebOptions): Promise<void> {
  // biome-ignore lint/nursery/noMisusedPromises: Fastify awaits async plugins.
  await app.register(webPlugin, options);
}

async function webPlugin(app: FastifyInstance, { ctx, config, restAuth }: WebOptions): Promise<void> {
  const secure = ctx.site.secure;
  const realmUrlOf = (realm: Realm) => ctx.site.urlOf(realm.subdomain);
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
    if (API_PATH.test(sentPath(request)) && !(request.routeOptions.url ?? "").startsWith("/json/")) {
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

  // CSRF failures in Zulip's words: JSON for /json, a page for forms.
  // Routes are matched ignoring doubled slashes and dot segments, so both the route's pattern and
  // the path as sent decide whether an answer must be in the JSON envelope.
  const isJson = (request: FastifyRequest) =>
    (request.routeOptions.url ?? "").startsWith("/json/") || API_PATH.test(sentPath(request));
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // §5.1: a browser that opens a /json URL without logging in is sent to the login page.
    if (err instanceof NotLoggedInError && prefersHtml(request.headers.accept)) {
      const path = sentPath(request);
      return reply
        .code(302)
        .header("location", `/login/?next=${encodeURIComponent(path)}`)
        .send();
    }
    if (err instanceof ZulipError && !isJson(request) && err.status < 500) {
      // A page (the per-address limit on a form post, say): the message as a page, not JSON.
      const page =
        err.code === "RATE_LIMIT_HIT"
          ? messagePage("Too many requests", `Too many requests from your address. ${tryAgainIn(err)}`)
          : messagePage("Error", err.message);
      return sendHtml(reply.headers(err.headers), err.status, page);
    }
    const csrf = err.code === "FST_CSRF_MISSING_SECRET" || err.code === "FST_CSRF_INVALID_TOKEN";
    if (!csrf && !isJson(request) && !(err instanceof ZulipError) && (err.statusCode ?? 500) >= 500) {
      // Something broke behind a page: a page that says so, with the id the log lines carry.
      request.log.error({ err }, "unhandled error");
      const page = messagePage(
        "Something went wrong",
        `The server could not show this page. Try again in a moment; if it keeps happening, tell your administrator and quote request ${request.id}.`,
      );
      return sendHtml(reply.header("x-request-id", request.id), 500, page);
    }
    if (!csrf) throw err;
    const token = field(request, "_csrf") ?? request.headers["x-csrf-token"];
    const reason =
      err.code === "FST_CSRF_MISSING_SECRET"
        ? "CSRF cookie not set."
        : token === undefined || token === ""
          ? "CSRF token missing."
          : "CSRF token incorrect.";
    request.log.info({ reason }, "csrf check failed");
    if (isJson(request)) {
      throw new ZulipError(`CSRF error: ${reason}`, { status: 403, code: "CSRF_FAILED", data: { reason } });
    }
    return sendHtml(
      reply,
      403,
      messagePage(
        "Forbidden",
        // With LATCHKEY_EXTERNAL_SCHEME=https the cookies are Secure: a browser on plain HTTP
        // never sends them back, which would otherwise look like cookies being off.
        `The form could not be checked (${reason}) Reload the page and try again; cookies must be enabled${
          secure ? ", and this server must be opened over https://" : ""
        }.`,
      ),
    );
  });

  await app.register(fastifyStatic, { root: STATIC_ROOT, prefix: "/static/", index: false, maxAge: 3600_000 });
  // zxcvbn's browser builds, served from the installed packages, for the new-password form.
  for (const [name, pkg] of [
    ["zxcvbn-core", "@zxcvbn-ts/core"],
    ["zxcvbn-common", "@zxcvbn-ts/language-common"],
  ] as const) {
    await app.register(fastifyStatic, {
      root: join(dirname(requireFrom(`${pkg}/package.json`)), "dist"),
      prefix: `/static/vendor/${name}/`,
      allowedPath: (path) => path === "/zxcvbn-ts.min.js",
      decorateReply: false,
      index: false,
      maxAge: 3600_000,
    });
  }

  const csrfCheck = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    app.csrfProtection(request, reply, done);
  };

  const setSessionCookie = (reply: FastifyReply, id: string) =>
    reply.setCookie(SESSION_COOKIE, id, { ...sessionCookieOptions(secure), maxAge: SESSION_AGE_MS / 1000 });

  const requireHostRealm = async (request: FastifyRequest, reply: FastifyReply): Promise<Realm | null> => {
    const realm = await ctx.stores.realms.findBySubdomain(request.subdomain);
    if (realm === null) {
      sendHtml(reply, 404, messagePage("Invalid subdomain", "There is no organization at this address."));
      return null;
    }
    return realm;
  };

  /** The logged-in user of this organization, or null. */
  const currentUser = (request: FastifyRequest, realm: Realm): User | null => {
    const session = request.webSession;
    if (session === null) return null;
    try {
      checkSessionAccount(session, realm.subdomain);
    } catch {
      return null;
    }
    return session.user;
  };

  const devUsersOf = async (realm: Realm) => {
    if (config.mode !== "development" || !realm.authMethods.dev || realm.deactivated) return undefined;
    const users = (await ctx.stores.users.listByRealm(realm.id)).filter((u) => u.isActive && !u.isBot);
    return users.map((u) => ({ email: u.deliveryEmail, fullName: u.fullName, admin: isRealmAdmin(u) }));
  };

  const renderLogin = async (
    _request: FastifyRequest,
    reply: FastifyReply,
    realm: Realm,
    status: number,
    extra: { username?: string; error?: string; next?: string; otps: Otps },
  ) => {
    const emailUsernames = requireEmailFormatUsernames(ctx, realm);
    const devUsers = await devUsersOf(realm);
    return sendHtml(
      reply,
      status,
      loginPage({
        realmName: realm.name,
        csrfToken: reply.generateCsrf(),
        usernameLabel: emailUsernames ? "Email" : "LDAP username",
        usernameIsEmail: emailUsernames,
        passwordEnabled: passwordAuthEnabled(ctx, realm),
        ...(extra.username === undefined ? {} : { username: extra.username }),
        ...(extra.error === undefined ? {} : { error: extra.error }),
        ...(extra.next === undefined ? {} : { next: extra.next }),
        ...(extra.otps.mobile === undefined ? {} : { mobileFlowOtp: extra.otps.mobile }),
        ...(extra.otps.desktop === undefined ? {} : { desktopFlowOtp: extra.otps.desktop }),
        ...(devUsers === undefined ? {} : { devUsers }),
      }),
    );
  };

  /** After a successful login: the mobile redirect, the desktop page, or a browser session. */
  const finishLogin = async (
    request: FastifyRequest,
    reply: FastifyReply,
    user: User,
    realm: Realm,
    otps: Otps,
    next?: string,
  ) => {
    if (otps.mobile !== undefined) {
      const apiKey = await revealApiKey(ctx, user.id);
      ctx.onLogin(user, realm, loginSource(request, undefined));
      // Built by hand: the target is not an http(s) URL.
      return reply
        .code(302)
        .header(
          "location",
          mobileFlowLocation({
            encryptedKey: otpEncryptApiKey(apiKey, otps.mobile),
            email: user.deliveryEmail,
            userId: user.id,
            realmUrl: realmUrlOf(realm),
          }),
        )
        .send();
    }
    if (otps.desktop !== undefined) {
      // Zulip's desktop login token has an API key's shape.
      const token = generateApiKey();
      await storeOneTimeToken(ctx, token, "desktop_login", user.id, DESKTOP_TOKEN_MS);
      return sendHtml(
        reply,
        200,
        desktopRedirectPage({ realmName: realm.name, desktopData: encryptForDesktop(token, otps.desktop) }),
      );
    }
    // A new session id on every login, so an id planted before login is worth nothing after it.
    if (request.webSession !== null) await endSession(ctx, request.webSession.idHash);
    setSessionCookie(reply, await startSession(ctx, user));
    ctx.onLogin(user, realm, loginSource(request, undefined));
    return reply.code(302).header("location", safeNext(next)).send();
  };

  /**
   * The organization of a login request and its app flow (§10), read by `read`; when either is
   * wrong, the error page is sent and the answer is null.
   */
  const loginTarget = async (
    reply: FastifyReply,
    request: FastifyRequest,
    read: (request: FastifyRequest, name: string) => string | undefined,
  ): Promise<{ realm: Realm; otps: Otps } | null> => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return null;
    const otps = readOtps(read(request, "mobile_flow_otp"), read(request, "desktop_flow_otp"));
    if (!("error" in otps)) return { realm, otps };
    sendHtml(reply, 400, messagePage("Error", otps.error, realm.name));
    return null;
  };

  const loginGet = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await loginTarget(reply, request, queryValue);
    if (target === null) return reply;
    const { realm, otps } = target;
    const next = queryValue(request, "next");
    if (currentUser(request, realm) !== null && otps.mobile === undefined && otps.desktop === undefined) {
      return reply.code(302).header("location", safeNext(next)).send();
    }
    return renderLogin(request, reply, realm, 200, { otps, ...(next === undefined ? {} : { next }) });
  };

  const loginPost = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await loginTarget(reply, request, field);
    if (target === null) return reply;
    const { realm, otps } = target;
    const username = (field(request, "username") ?? "").trim();
    const password = field(request, "password") ?? "";
    const next = field(request, "next");
    const again = (status: number, error: string) =>
      renderLogin(request, reply, realm, status, { username, error, otps, ...(next === undefined ? {} : { next }) });
    if (!passwordAuthEnabled(ctx, realm)) return again(401, "Password authentication is disabled in this organization");
    if (!ldapEnabled(ctx, realm) && !isValidEmail(username)) return again(400, "Enter a valid email address.");
    let user: User;
    try {
      ({ user } = await loginWithPassword({ ...ctx, log: request.log }, { realm, username, password }, (rate) =>
        recordRateDecision(request, rate),
      ));
    } catch (err) {
      if (!(err instanceof ZulipError)) throw err;
      reply.headers(err.headers);
      const message =
        err.code === "RATE_LIMIT_HIT" ? `Too many login attempts for this account. ${tryAgainIn(err)}` : err.message;
      return again(err.status, message);
    }
    return finishLogin(request, reply, user, realm, otps, next);
  };

  for (const url of ["/login/", "/login", "/accounts/login/"]) {
    app.get(url, loginGet);
    app.post(url, { preHandler: csrfCheck, config: { limitByAddress: true } }, loginPost);
  }

  if (config.mode === "development") {
    app.post("/accounts/login/dev/", { preHandler: csrfCheck, config: { limitByAddress: true } }, async (request, reply) => {
      const target = await loginTarget(reply, request, field);
      if (target === null) return reply;
      const { realm, otps } = target;
      const flags = new Set<AuthFlag>();
      const username = field(request, "username") ?? "";
      const user = realm.authMethods.dev && isValidEmail(username) ? await findActiveUser(ctx, realm, username, flags) : null;
      if (user === null || user.isBot) {
        // dev_fetch_api_key's order (§2): the organization before the account.
        const error = flags.has("inactive_realm")
          ? MESSAGES.realmDeactivated
          : flags.has("inactive_user")
            ? MESSAGES.userDeactivated
            : MESSAGES.authenticationFailed;
        return renderLogin(request, reply, realm, 401, { error, otps });
      }
      return finishLogin(request, reply, user, realm, otps, field(request, "next"));
    });

    app.get("/devtools/emails", async (_request, reply) =>
      sendHtml(reply, 200, devEmailsPage({ messages: await listOutbox(config.email.outboxDir) })),
    );
  }

  // The desktop app redeems its one-time token for a browser session (15 s, single use).
  app.get("/accounts/login/subdomain/:token", async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    const { token } = request.params as { token: string };
    const used = await consumeOneTimeToken(ctx, token, "desktop_login");
    const user = used === null ? null : await ctx.stores.users.findById(used.userId);
    if (user === null || !user.isActive || user.realmId !== realm.id || realm.deactivated) {
      return sendHtml(
        reply,
        400,
        messagePage(
          "Login link expired",
          html`This login link is invalid or has expired. <a href="/login/">Log in</a> again.`,
          realm.name,
        ),
      );
    }
    return finishLogin(request, reply, user, realm, {});
  });

  const logout = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.webSession !== null) await endSession(ctx, request.webSession.idHash);
    reply.clearCookie(SESSION_COOKIE, sessionCookieOptions(secure));
    return reply.code(302).header("location", "/login/").send();
  };
  app.post("/accounts/logout/", { preHandler: csrfCheck }, logout);
  app.get("/accounts/logout/", async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    if (currentUser(request, realm) === null) return reply.code(302).header("location", "/login/").send();
    return sendHtml(
      reply,
      200,
      messagePage(
        "Log out",
        html`<form method="post" action="/accounts/logout/">${csrfField(reply.generateCsrf())}<button type="submit" class="primary">Log out</button></form>`,
        realm.name,
      ),
    );
  });

  /** A page for logged-in users: the user, or a redirect to the login page with `next`. */
  const requireLogin = async (request: FastifyRequest, reply: FastifyReply): Promise<{ user: User; realm: Realm } | null> => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return null;
    const user = currentUser(request, realm);
    if (user === null) {
      const path = request.url.split("?", 1)[0] ?? "/";
      reply
        .code(302)
        .header("location", `/login/?next=${encodeURIComponent(path)}`)
        .send();
      return null;
    }
    return { user, realm };
  };

  app.get("/", async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    return reply
      .code(302)
      .header("location", currentUser(request, realm) === null ? "/login/" : "/settings/account")
      .send();
  });
  app.get("/settings/", async (_request, reply) => reply.code(302).header("location", "/settings/account").send());

  let regenerateRouted: boolean | null = null;
  app.get("/settings/account", async (request, reply) => {
    const who = await requireLogin(request, reply);
    if (who === null) return reply;
    regenerateRouted ??= app.hasRoute({ method: "POST", url: "/api/v1/users/me/api_key/regenerate" });
    return sendHtml(
      reply,
      200,
      accountSettingsPage({
        realmName: who.realm.name,
        csrfToken: reply.generateCsrf(),
        user: { fullName: who.user.fullName, email: who.user.deliveryEmail },
        site: realmUrlOf(who.realm),
        passwordRequired: passwordAuthEnabled(ctx, who.realm),
        canRegenerate: regenerateRouted,
      }),
    );
  });

  app.get("/settings/bots", async (request, reply) => {
    const who = await requireLogin(request, reply);
    if (who === null) return reply;
    const owned = (await ctx.stores.users.listByRealm(who.realm.id)).filter((u) => u.isBot && u.botOwnerId === who.user.id);
    const bots: BotEntry[] = [];
    for (const bot of owned) {
      const entry: BotEntry = {
        id: bot.id,
        fullName: bot.fullName,
        email: bot.deliveryEmail,
        botType: bot.botType,
        isActive: bot.isActive,
      };
      if (bot.isActive) {
        const text = await zuliprcFor(ctx, bot);
        entry.apiKey = /^key=(.*)$/m.exec(text)?.[1] ?? "";
        entry.token = /^token=(.*)$/m.exec(text)?.[1] ?? null;
        entry.zuliprcUrl = zuliprcDataUrl(text);
      }
      bots.push(entry);
    }
    return sendHtml(
      reply,
      200,
      botsSettingsPage({
        realmName: who.realm.name,
        csrfToken: reply.generateCsrf(),
        user: { fullName: who.user.fullName, email: who.user.deliveryEmail },
        site: realmUrlOf(who.realm),
        botDomain: ctx.site.botDomainOf(who.realm.subdomain),
        bots,
        canReactivate: isRealmAdmin(who.user),
      }),
    );
  });

  // Password reset: request a link, then choose a new password with it.
  app.get("/accounts/password/reset/", async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    const email = queryValue(request, "email");
    return sendHtml(
      reply,
      200,
      passwordResetRequestPage({
        realmName: realm.name,
        csrfToken: reply.generateCsrf(),
        ...(email === undefined ? {} : { email }),
      }),
    );
  });
  app.post("/accounts/password/reset/", { preHandler: csrfCheck, config: { limitByAddress: true } }, async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    const email = (field(request, "email") ?? "").trim();
    const again = (status: number, error: string) =>
      sendHtml(reply, status, passwordResetRequestPage({ realmName: realm.name, csrfToken: reply.generateCsrf(), email, error }));
    if (!isValidEmail(email)) return again(400, "Enter a valid email address.");
    if (!realm.authMethods.email)
      return again(400, "This organization does not use passwords kept by this server; there is nothing to reset.");
    try {
      await requestPasswordReset({ ...ctx, log: request.log }, realm, email, {
        realmUrl: realmUrlOf(realm),
        linkFor: (token) => `${realmUrlOf(realm)}/accounts/password/reset/confirm/?token=${encodeURIComponent(token)}`,
      });
    } catch (err) {
      if (!(err instanceof ZulipError)) throw err;
      reply.headers(err.headers);
      return again(
        err.status,
        err.code === "RATE_LIMIT_HIT"
          ? `You have requested password resets for this address too often. ${tryAgainIn(err)}`
          : err.message,
      );
    }
    return sendHtml(reply, 200, passwordResetSentPage({ realmName: realm.name, email }));
  });
  const invalidLink = (reply: FastifyReply, realm: Realm) =>
    sendHtml(
      reply,
      400,
      messagePage(
        "Link expired",
        html`${RESET_LINK_INVALID} <a href="/accounts/password/reset/">Request a new link</a>.`,
        realm.name,
      ),
    );
  const renderNewPassword = (reply: FastifyReply, realm: Realm, user: User, token: string, status: number, error?: string) =>
    sendHtml(
      reply,
      status,
      newPasswordPage({
        realmName: realm.name,
        csrfToken: reply.generateCsrf(),
        token,
        email: user.deliveryEmail,
        hasPassword: user.passwordHash !== null,
        ...(error === undefined ? {} : { error }),
      }),
    );
  app.get("/accounts/password/reset/confirm/", async (request, reply) => {
    const realm = await requireHostRealm(request, reply);
    if (realm === null) return reply;
    const token = queryValue(request, "token") ?? "";
    const user = await userForResetToken(ctx, token);
    if (user === null || user.realmId !== realm.id) return invalidLink(reply, realm);
    return renderNewPassword(reply, realm, user, token, 200);
  });
  app.post(
    "/accounts/password/reset/confirm/",
    { preHandler: csrfCheck, config: { limitByAddress: true } },
    async (request, reply) => {
      const realm = await requireHostRealm(request, reply);
      if (realm === null) return reply;
      const token = field(request, "token") ?? "";
      const user = await userForResetToken(ctx, token);
      if (user === null || user.realmId !== realm.id) return invalidLink(reply, realm);
      const outcome = await completePasswordReset(
        ctx,
        token,
        field(request, "new_password1") ?? "",
        field(request, "new_password2") ?? "",
      );
      if (!outcome.ok) {
        if (outcome.problem === RESET_LINK_INVALID) return invalidLink(reply, realm);
        return renderNewPassword(reply, realm, user, token, 400, outcome.problem);
      }
      return sendHtml(
        reply,
        200,
        messagePage("Password changed", html`Your password has been changed. <a href="/login/">Log in</a> with it.`, realm.name),
      );
    },
  );

  // The /json endpoints: session (with CSRF on state-changing methods) or Basic.
  const authenticateJson = makeSessionAuthenticator(ctx, restAuth);
  // biome-ignore lint/nursery/noMisusedPromises: Fastify awaits async plugins.
  await app.register(async (json) => {
    json.addHook("preHandler", (request, reply, done) => {
      if (request.webSession === null || SAFE_METHODS.has(request.method)) return done();
      app.csrfProtection(request, reply, done);
    });
    registerJsonFetchApiKey(json, ctx, authenticateJson);
    // The bots API (§8) with a session, for Settings → Your bots.
    registerBotRoutes(json, { ctx, config, prefix: "/json", authenticate: authenticateJson });
  });
}

/** §7.4's answer: no `user_id`, unlike `/api/v1/fetch_api_key`'s. */
const jsonApiKeyResponse = successSchema({ api_key: { type: "string" }, email: { type: "string" } }, ["api_key", "email"]);

/** §7.4: the web page's "Get API key", after the password is entered again. */
function registerJsonFetchApiKey(
  app: FastifyInstance,
  ctx: Context,
  authenticate: (request: FastifyRequest) => void | Promise<void>,
): void {
  registerEndpoint(app, "/json/fetch_api_key", {
    POST: {
      typed: true,
      authenticate,
      schema: { response: { 200: jsonApiKeyResponse } },
      handler: async (request) => {
        const principal = request.principal;
        if (principal === null) throw new ZulipError("Not logged in");
        const { user, realm } = principal;
        const password = readParam(request, "password") ?? "";
        if (passwordAuthEnabled(ctx, realm)) {
          let ok = false;
          try {
            const result = await loginWithPassword(
              { ...ctx, log: request.log },
              { realm, username: user.deliveryEmail, password },
              (rate) => recordRateDecision(request, rate),
            );
            ok = result.user.id === user.id;
          } catch (err) {
            // Throttled or unavailable: say so; any other refusal is a wrong password.
            if (err instanceof ZulipError && (err.status === 429 || err.status === 503)) throw err;
            if (!(err instanceof ZulipError)) throw err;
          }
          if (!ok) throw new ZulipError("Password is incorrect.");
        }
        return { result: "success", msg: "", api_key: await revealApiKey(ctx, user.id), email: user.deliveryEmail };
      },
    },
  });
}
