/**
 * A one-time login token (15 s, single use) redeemed for a browser session: the desktop app's,
 * and the one an identity provider's answer at the root host hands to the organization's host.
 */
import type { FastifyInstance } from "fastify";
import type { Context } from "../../domain/context.js";
import { consumeOneTimeToken } from "../../domain/one-time-tokens.js";
import { html } from "../html.js";
import { messagePage } from "../layout.js";
import { finishLogin } from "../login-flow.js";
import { queryValue, requireHostRealm, sendHtml } from "../page-kit.js";

export function registerDesktopLoginRoute(app: FastifyInstance, ctx: Context): void {
  app.get("/accounts/login/subdomain/:token", async (request, reply) => {
    const realm = await requireHostRealm(ctx, request, reply);
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
    return finishLogin(ctx, request, reply, { user, realm, otps: {}, next: queryValue(request, "next") });
  });
}
