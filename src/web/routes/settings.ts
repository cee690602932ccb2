/**
 * The home page's redirect and Settings → Account & privacy, where people get, copy, download
 * and rotate their API key.
 */
import type { FastifyInstance } from "fastify";
import type { Context } from "../../domain/context.js";
import { passwordAuthEnabled } from "../../domain/login.js";
import { currentUser, redirect, requireHostRealm, requireLogin, sendHtml } from "../page-kit.js";
import { accountSettingsPage } from "../pages.js";

export function registerSettingsRoutes(app: FastifyInstance, ctx: Context): void {
  app.get("/", async (request, reply) => {
    const realm = await requireHostRealm(ctx, request, reply);
    if (realm === null) return reply;
    return redirect(reply, currentUser(request, realm) === null ? "/login/" : "/settings/account");
  });
  app.get("/settings/", async (_request, reply) => redirect(reply, "/settings/account"));

  // Whether the API route exists is known once every route is registered, so it is asked on first use.
  let regenerateRouted: boolean | null = null;
  app.get("/settings/account", async (request, reply) => {
    const who = await requireLogin(ctx, request, reply);
    if (who === null) return reply;
    regenerateRouted ??= app.hasRoute({ method: "POST", url: "/api/v1/users/me/api_key/regenerate" });
    return sendHtml(
      reply,
      200,
      accountSettingsPage({
        realmName: who.realm.name,
        csrfToken: reply.generateCsrf(),
        user: { fullName: who.user.fullName, email: who.user.deliveryEmail },
        site: ctx.site.urlOf(who.realm.subdomain),
        passwordRequired: passwordAuthEnabled(ctx, who.realm),
        canRegenerate: regenerateRouted,
      }),
    );
  });
}
