/**
 * Development only: the one-click login of the demo users under the login form, and the list of
 * the emails the server wrote to its outbox.
 */
import type { FastifyInstance } from "fastify";
import type { AuthFlag, Context } from "../../domain/context.js";
import { isValidEmail } from "../../domain/email.js";
import { findActiveUser } from "../../domain/login.js";
import { MESSAGES } from "../../errors.js";
import { listOutbox } from "../../mail/nodemailer-mailer.js";
import { finishLogin, loginTarget, renderLogin } from "../login-flow.js";
import { csrfCheck, field, sendHtml } from "../page-kit.js";
import { devEmailsPage } from "../pages.js";

export function registerDevLoginRoutes(app: FastifyInstance, ctx: Context, { outboxDir }: { outboxDir: string }): void {
  app.post("/accounts/login/dev/", { preHandler: csrfCheck(app), config: { limitByAddress: true } }, async (request, reply) => {
    const target = await loginTarget(ctx, request, reply, field);
    if (target === null) return reply;
    const { realm, otps } = target;
    const flags = new Set<AuthFlag>();
    const username = field(request, "username") ?? "";
    const user = realm.authMethods.dev && isValidEmail(username) ? await findActiveUser(ctx, realm, username, flags) : null;
    if (user === null || user.isBot) {
      // dev_fetch_api_key's order: the organization before the account.
      const error = flags.has("inactive_realm")
        ? MESSAGES.realmDeactivated
        : flags.has("inactive_user")
          ? MESSAGES.userDeactivated
          : MESSAGES.authenticationFailed;
      return renderLogin(ctx, reply, realm, 401, { error, otps }, true);
    }
    return finishLogin(ctx, request, reply, { user, realm, otps, next: field(request, "next") });
  });

  app.get("/devtools/emails", async (_request, reply) =>
    sendHtml(reply, 200, devEmailsPage({ messages: await listOutbox(outboxDir) })),
  );
}
