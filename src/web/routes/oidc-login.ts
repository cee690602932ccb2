/**
 * Logging in through an OpenID Connect identity provider (docs/zulip-rules.md §4.7), with the
 * mobile and desktop app flows behind it. Three steps, as Zulip's social login takes them:
 *
 * 1. `/accounts/login/social/oidc[/<idp>]` (and `/accounts/register/social/…`) on the
 *    organization's host: the button's target and the apps' `login_url`. It checks the app flow
 *    and the provider, and sends the browser to the root host (Zulip's `oauth_redirect_to_root`),
 *    so that every organization shares one callback URL.
 * 2. `/login/oidc/` on the root host (Zulip's `social:begin`): remembers the login, puts its
 *    state in a cookie of this browser, and sends the browser to the provider.
 * 3. `/complete/oidc/` on the root host (`social:complete`): the provider's answer. The state
 *    must match this browser's cookie and a login in flight; the account found is logged in by
 *    `finishLogin` (the `zulip://` redirect, the desktop page, or a session on the
 *    organization's host).
 *
 * A provider that is down or misconfigured gets a page that says so and a log line, never a 500.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { constantTimeEqual } from "../../domain/constant-time.js";
import type { Context } from "../../domain/context.js";
import type { Realm } from "../../domain/model.js";
import {
  findIdp,
  finishOidcLogin,
  idpServes,
  OIDC_CALLBACK_PATH,
  OIDC_LOGIN_MS,
  type OidcFlow,
  type OidcOutcome,
  startOidcLogin,
} from "../../domain/oidc-login.js";
import { IdpUnavailableError, type OidcIdp } from "../../domain/sso-ports.js";
import { html, type SafeHtml } from "../html.js";
import { messagePage } from "../layout.js";
import { finishLogin, loginTarget, type Otps, readOtps } from "../login-flow.js";
import { queryValue, redirect, sendHtml } from "../page-kit.js";

/** The cookie that ties the provider's answer to the browser that started the login. */
const STATE_COOKIE = "oidc_state";

function flowOf(otps: Otps, next: string | undefined): OidcFlow {
  return {
    ...(otps.mobile === undefined ? {} : { mobile: otps.mobile }),
    ...(otps.desktop === undefined ? {} : { desktop: otps.desktop }),
    ...(next === undefined ? {} : { next }),
  };
}

export function registerOidcLoginRoutes(app: FastifyInstance, ctx: Context): void {
  const loginLink = (realm: Realm | null, text = "Log in"): SafeHtml =>
    html`<a href="${realm === null ? "/login/" : `${ctx.site.urlOf(realm.subdomain)}/login/`}">${text}</a>`;

  const page = (reply: FastifyReply, status: number, title: string, message: SafeHtml | string, realm: Realm | null) =>
    sendHtml(reply, status, messagePage(title, message, realm?.name));

  const deactivatedPage = (reply: FastifyReply, realm: Realm) =>
    page(
      reply,
      403,
      "Deactivated organization",
      `The organization you are trying to join, ${realm.name}, has been deactivated.`,
      realm,
    );

  const notEnabledPage = (reply: FastifyReply, idp: OidcIdp, realm: Realm) =>
    page(
      reply,
      403,
      "Login method not enabled",
      html`Logging in with ${idp.displayName} is not enabled for this organization. ${loginLink(realm)} another way.`,
      realm,
    );

  const unavailablePage = (request: FastifyRequest, reply: FastifyReply, idp: OidcIdp, realm: Realm | null, err: Error) => {
    if (err instanceof IdpUnavailableError && err.why === "misconfigured") {
      request.log.error({ err, idp: idp.name, issuer: idp.issuer }, "identity provider misconfigured");
      return page(
        reply,
        502,
        "Login unavailable",
        html`Logging in with ${idp.displayName} is not set up correctly, so it cannot be used right now. Tell your administrator and quote request ${request.id}, or ${loginLink(realm, "log in")} another way.`,
        realm,
      );
    }
    request.log.warn({ err, idp: idp.name, issuer: idp.issuer }, "identity provider unavailable");
    return page(
      reply,
      503,
      "Login unavailable",
      html`${idp.displayName} is not answering, so you cannot log in with it right now. Try again in a few minutes, or ${loginLink(realm, "log in")} another way.`,
      realm,
    );
  };

  /** Step 1: on the organization's host, the buttons' and the apps' URL. */
  const start = (isSignup: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await loginTarget(ctx, request, reply, queryValue);
    if (target === null) return reply;
    const { realm, otps } = target;
    const name = (request.params as { idp?: string }).idp;
    const idp = findIdp(ctx, name);
    if (idp === null) {
      return page(
        reply,
        404,
        "Unknown identity provider",
        html`There is no identity provider ${name === undefined ? "" : html`“${name}” `}here. ${loginLink(realm)} with one of those listed.`,
        realm,
      );
    }
    if (realm.deactivated) return deactivatedPage(reply, realm);
    if (!realm.authMethods.oidc || !idpServes(idp, realm)) return notEnabledPage(reply, idp, realm);
    const query = new URLSearchParams({ subdomain: realm.subdomain, idp: idp.name, is_signup: isSignup ? "1" : "0" });
    const next = queryValue(request, "next");
    if (next !== undefined) query.set("next", next);
    if (otps.mobile !== undefined) query.set("mobile_flow_otp", otps.mobile);
    if (otps.desktop !== undefined) query.set("desktop_flow_otp", otps.desktop);
    return redirect(reply, `${ctx.site.rootUrl}/login/oidc/?${query.toString()}`);
  };
  for (const [prefix, isSignup] of [
    ["/accounts/login/social/oidc", false],
    ["/accounts/register/social/oidc", true],
  ] as const) {
    app.get(prefix, start(isSignup));
    app.get(`${prefix}/:idp`, start(isSignup));
  }

  /** Step 2: on the root host, where the provider's answer will come back. */
  app.get("/login/oidc/", { config: { limitByAddress: true } }, async (request, reply) => {
    const rootHost = ctx.site.hostOf("");
    if ((request.headers.host ?? "").toLowerCase() !== rootHost) {
      // The state cookie must live where the answer arrives.
      return redirect(reply, `${ctx.site.rootUrl}${request.url}`);
    }
    const realm = await ctx.stores.realms.findBySubdomain(queryValue(request, "subdomain") ?? "\u0000");
    if (realm === null) return page(reply, 404, "Invalid subdomain", "There is no organization at this address.", null);
    const otps = readOtps(queryValue(request, "mobile_flow_otp"), queryValue(request, "desktop_flow_otp"));
    if ("error" in otps) return page(reply, 400, "Error", otps.error, realm);
    const idp = findIdp(ctx, queryValue(request, "idp") ?? "");
    if (idp === null)
      return page(reply, 404, "Unknown identity provider", html`${loginLink(realm)} with one of those listed.`, realm);
    if (realm.deactivated) return deactivatedPage(reply, realm);
    if (!realm.authMethods.oidc || !idpServes(idp, realm)) return notEnabledPage(reply, idp, realm);
    let started: Awaited<ReturnType<typeof startOidcLogin>>;
    try {
      started = await startOidcLogin(ctx, {
        idp,
        realm,
        isSignup: queryValue(request, "is_signup") === "1",
        flow: flowOf(otps, queryValue(request, "next")),
        redirectUri: `${ctx.site.rootUrl}${OIDC_CALLBACK_PATH}`,
      });
    } catch (err) {
      if (err instanceof IdpUnavailableError) return unavailablePage(request, reply, idp, realm, err);
      throw err;
    }
    reply.setCookie(STATE_COOKIE, started.state, {
      path: OIDC_CALLBACK_PATH,
      httpOnly: true,
      // Lax: the provider's redirect back is a top-level GET, which carries it.
      sameSite: "lax",
      secure: ctx.site.secure,
      maxAge: OIDC_LOGIN_MS / 1000,
    });
    return redirect(reply, started.url);
  });

  /** Step 3: the provider's answer. */
  app.get(OIDC_CALLBACK_PATH, { config: { limitByAddress: true } }, async (request, reply) => {
    const state = queryValue(request, "state") ?? "";
    const cookie = request.cookies[STATE_COOKIE] ?? "";
    reply.clearCookie(STATE_COOKIE, { path: OIDC_CALLBACK_PATH });
    const expired = (realm: Realm | null) =>
      page(
        reply,
        400,
        "Login expired",
        html`This login has expired, was already used, or was started in another browser. ${loginLink(realm)} again.`,
        realm,
      );
    if (state === "" || cookie === "" || !constantTimeEqual(state, cookie)) {
      request.log.info(
        { hasState: state !== "", hasCookie: cookie !== "" },
        "identity provider answer without this browser's state",
      );
      return expired(null);
    }
    const outcome = await finishOidcLogin(
      { ...ctx, log: request.log },
      { state, callbackUrl: new URL(request.url, ctx.site.rootUrl), redirectUri: `${ctx.site.rootUrl}${OIDC_CALLBACK_PATH}` },
    );
    if (outcome.ok) {
      const { user, realm, idp, flow } = outcome;
      request.log.info(
        { userId: user.id, realm: realm.subdomain, idp: idp.name, created: outcome.created },
        "identity provider login",
      );
      return finishLogin(ctx, request, reply, {
        user,
        realm,
        otps: {
          ...(flow.mobile === undefined ? {} : { mobile: flow.mobile }),
          ...(flow.desktop === undefined ? {} : { desktop: flow.desktop }),
        },
        next: flow.next,
      });
    }
    return refusalPage(request, reply, outcome, expired);
  });

  /** What each refusal looks like (Zulip's `social_auth_finish` branches, as pages). */
  function refusalPage(
    request: FastifyRequest,
    reply: FastifyReply,
    outcome: Extract<OidcOutcome, { ok: false }>,
    expired: (realm: Realm | null) => FastifyReply,
  ): FastifyReply {
    const { refusal, realm, idp, email, error } = outcome;
    const log = { refusal, idp: idp?.name, realm: realm?.subdomain, ...(error === undefined ? {} : { err: error }) };
    const name = idp?.displayName ?? "The identity provider";
    switch (refusal) {
      case "unknown_state":
      case "invalid_grant":
        request.log.info(log, "identity provider login expired");
        return expired(realm);
      case "unavailable":
        return unavailablePage(request, reply, idp as OidcIdp, realm, error ?? new Error(refusal));
      case "auth_backend_disabled":
        request.log.info(log, "identity provider login refused");
        return realm === null || idp === null
          ? page(reply, 404, "Invalid subdomain", "There is no organization at this address.", null)
          : notEnabledPage(reply, idp, realm);
      case "inactive_realm":
        request.log.info(log, "identity provider login refused");
        return deactivatedPage(reply, realm as Realm);
      case "inactive_user": {
        // Zulip's redirect_deactivated_user_to_login: the organization's login page says so.
        request.log.info(log, "failed login attempt for deactivated account");
        const query = new URLSearchParams({ is_deactivated: email ?? "" });
        return redirect(reply, `${ctx.site.urlOf((realm as Realm).subdomain)}/login/?${query.toString()}`);
      }
      case "denied":
        request.log.info(log, "identity provider did not log the person in");
        return page(reply, 401, "Login cancelled", html`${name} did not log you in. ${loginLink(realm)} again.`, realm);
      case "rejected":
        request.log.error(log, "identity provider answer refused");
        return page(
          reply,
          502,
          "Login failed",
          html`${name}'s answer could not be checked, so you were not logged in. If this keeps happening, tell your administrator and quote request ${request.id}.`,
          realm,
        );
      case "no_email":
        request.log.info(log, "identity provider login refused");
        return page(
          reply,
          403,
          "Login failed",
          html`${name} did not share your email address, so your account here cannot be found. ${loginLink(realm)} another way.`,
          realm,
        );
      case "email_not_verified":
        request.log.info(log, "identity provider login refused");
        return page(
          reply,
          403,
          "Email not verified",
          html`${name} has not verified your email address ${email ?? ""}, so it cannot log you in here. Verify it with ${name}, or ${loginLink(realm, "log in")} another way.`,
          realm,
        );
      case "invalid_email":
        request.log.info(log, "identity provider login refused");
        return page(reply, 403, "Login failed", html`${name} gave an email address that is not valid: ${email ?? ""}.`, realm);
      case "no_account":
        request.log.info(log, "identity provider login refused");
        return page(
          reply,
          404,
          "Account not found",
          html`No account found for ${email ?? ""}. ${realm === null ? "" : html`<a href="${ctx.site.urlOf(realm.subdomain)}/login/">Log in with another account</a>.`}`,
          realm,
        );
    }
  }
}
