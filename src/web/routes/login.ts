/**
 * `/login/`: the login form (password or LDAP, and a button per identity provider) and its post,
 * with the mobile and desktop app flows behind it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Context } from "../../domain/context.js";
import { isValidEmail } from "../../domain/email.js";
import { deactivatedAccountMessage, ldapEnabled, loginWithPassword, passwordAuthEnabled } from "../../domain/login.js";
import type { User } from "../../domain/model.js";
import { observeLogin } from "../../domain/telemetry.js";
import { ClientGoneError, RateLimitError, ZulipError } from "../../errors.js";
import { clientGoneSignal } from "../../http/client-gone.js";
import { loginBodyLimit } from "../../http/plugins/body-parsers.js";
import { recordRateDecision } from "../../http/plugins/rate-limits.js";
import { finishLogin, loginTarget, renderLogin } from "../login-flow.js";
import { csrfCheck, currentUser, field, queryValue, redirect, safeNext, tryAgainIn } from "../page-kit.js";

export function registerLoginRoutes(app: FastifyInstance, ctx: Context, { devMode }: { devMode: boolean }): void {
  const loginGet = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await loginTarget(ctx, request, reply, queryValue);
    if (target === null) return reply;
    const { realm, otps } = target;
    const next = queryValue(request, "next");
    if (currentUser(request, realm) !== null && otps.mobile === undefined && otps.desktop === undefined) {
      return redirect(reply, safeNext(next));
    }
    // Zulip's `update_login_page_context`: an identity provider vouched for a deactivated account.
    const deactivated = queryValue(request, "is_deactivated");
    const error = deactivated !== undefined && isValidEmail(deactivated) ? deactivatedAccountMessage(deactivated) : undefined;
    return renderLogin(
      ctx,
      reply,
      realm,
      200,
      { otps, ...(next === undefined ? {} : { next }), ...(error === undefined ? {} : { error }) },
      devMode,
    );
  };

  const loginPost = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await loginTarget(ctx, request, reply, field);
    if (target === null) return reply;
    const { realm, otps } = target;
    const username = (field(request, "username") ?? "").trim();
    const password = field(request, "password") ?? "";
    const next = field(request, "next");
    const again = (status: number, error: string) =>
      renderLogin(ctx, reply, realm, status, { username, error, otps, ...(next === undefined ? {} : { next }) }, devMode);
    if (!passwordAuthEnabled(ctx, realm)) return again(401, "Password authentication is disabled in this organization");
    if (!ldapEnabled(ctx, realm) && !isValidEmail(username)) return again(400, "Enter a valid email address.");
    let user: User;
    try {
      const signal = clientGoneSignal(reply);
      ({ user } = await observeLogin(
        ctx.telemetry,
        "web",
        loginWithPassword({ ...ctx, log: request.log }, { realm, username, password, signal }, (rate) =>
          recordRateDecision(request, rate),
        ),
      ));
    } catch (err) {
      if (!(err instanceof ZulipError) || err instanceof ClientGoneError) throw err;
      reply.headers(err.headers);
      const message =
        err instanceof RateLimitError ? `Too many login attempts for this account. ${tryAgainIn(err)}` : err.message;
      return again(err.status, message);
    }
    return finishLogin(ctx, request, reply, { user, realm, otps, next });
  };

  for (const url of ["/login/", "/login", "/accounts/login/"]) {
    app.get(url, loginGet);
    app.post(url, { preHandler: csrfCheck(app), bodyLimit: loginBodyLimit(app), config: { limitByAddress: true } }, loginPost);
  }
}
