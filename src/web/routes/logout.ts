/** Logging out: a confirmation page (GET) and the form post that ends the session. */
import type { FastifyInstance } from "fastify";
import type { Context } from "../../domain/context.js";
import { endSession } from "../../domain/sessions.js";
import { html } from "../html.js";
import { csrfField, messagePage } from "../layout.js";
import { csrfCheck, currentUser, redirect, requireHostRealm, sendHtml } from "../page-kit.js";
import { SESSION_COOKIE, sessionCookieOptions } from "../session-cookie.js";

export function registerLogoutRoutes(app: FastifyInstance, ctx: Context): void {
  app.post("/accounts/logout/", { preHandler: csrfCheck(app) }, async (request, reply) => {
    if (request.webSession !== null) await endSession(ctx, request.webSession.idHash);
    reply.clearCookie(SESSION_COOKIE, sessionCookieOptions(ctx.site.secure));
    return redirect(reply, "/login/");
  });
  app.get("/accounts/logout/", async (request, reply) => {
    const realm = await requireHostRealm(ctx, request, reply);
    if (realm === null) return reply;
    if (currentUser(request, realm) === null) return redirect(reply, "/login/");
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
}
