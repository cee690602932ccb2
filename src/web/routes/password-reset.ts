/** Password reset: request a link by email, then choose a new password with it. */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Context } from "../../domain/context.js";
import { isValidEmail } from "../../domain/email.js";
import type { Realm, User } from "../../domain/model.js";
import {
  completePasswordReset,
  RESET_LINK_INVALID,
  requestPasswordReset,
  userForResetToken,
} from "../../domain/password-reset.js";
import { RateLimitError, ZulipError } from "../../errors.js";
import { html } from "../html.js";
import { messagePage } from "../layout.js";
import { csrfCheck, field, queryValue, requireHostRealm, sendHtml, tryAgainIn } from "../page-kit.js";
import { newPasswordPage, passwordResetRequestPage, passwordResetSentPage } from "../pages.js";

function invalidLink(reply: FastifyReply, realm: Realm): FastifyReply {
  return sendHtml(
    reply,
    400,
    messagePage(
      "Link expired",
      html`${RESET_LINK_INVALID} <a href="/accounts/password/reset/">Request a new link</a>.`,
      realm.name,
    ),
  );
}

function renderNewPassword(reply: FastifyReply, realm: Realm, user: User, token: string, status: number, error?: string) {
  return sendHtml(
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
}

export function registerPasswordResetRoutes(app: FastifyInstance, ctx: Context): void {
  app.get("/accounts/password/reset/", async (request, reply) => {
    const realm = await requireHostRealm(ctx, request, reply);
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

  app.post(
    "/accounts/password/reset/",
    { preHandler: csrfCheck(app), config: { limitByAddress: true } },
    async (request, reply) => {
      const realm = await requireHostRealm(ctx, request, reply);
      if (realm === null) return reply;
      const email = (field(request, "email") ?? "").trim();
      const again = (status: number, error: string) =>
        sendHtml(
          reply,
          status,
          passwordResetRequestPage({ realmName: realm.name, csrfToken: reply.generateCsrf(), email, error }),
        );
      if (!isValidEmail(email)) return again(400, "Enter a valid email address.");
      if (!realm.authMethods.email)
        return again(400, "This organization does not use passwords kept by this server; there is nothing to reset.");
      // Links name the organization's configured address, never the host the request came in on.
      const realmUrl = ctx.site.urlOf(realm.subdomain);
      try {
        await requestPasswordReset({ ...ctx, log: request.log }, realm, email, {
          realmUrl,
          linkFor: (token) => `${realmUrl}/accounts/password/reset/confirm/?token=${encodeURIComponent(token)}`,
        });
      } catch (err) {
        if (!(err instanceof ZulipError)) throw err;
        reply.headers(err.headers);
        return again(
          err.status,
          err instanceof RateLimitError
            ? `You have requested password resets for this address too often. ${tryAgainIn(err)}`
            : err.message,
        );
      }
      return sendHtml(reply, 200, passwordResetSentPage({ realmName: realm.name, email }));
    },
  );

  app.get("/accounts/password/reset/confirm/", async (request, reply) => {
    const realm = await requireHostRealm(ctx, request, reply);
    if (realm === null) return reply;
    const token = queryValue(request, "token") ?? "";
    const user = await userForResetToken(ctx, token);
    if (user === null || user.realmId !== realm.id) return invalidLink(reply, realm);
    return renderNewPassword(reply, realm, user, token, 200);
  });

  app.post(
    "/accounts/password/reset/confirm/",
    { preHandler: csrfCheck(app), config: { limitByAddress: true } },
    async (request, reply) => {
      const realm = await requireHostRealm(ctx, request, reply);
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
}
