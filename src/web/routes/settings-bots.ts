/** Settings → Your bots: each bot with its key, copy, new-key and zuliprc controls, and the form to add one. */
import type { FastifyInstance } from "fastify";
import type { Context } from "../../domain/context.js";
import { zuliprcDataUrl, zuliprcFor } from "../../domain/zuliprc.js";
import { type BotEntry, botsSettingsPage } from "../bots-page.js";
import { requireLogin, sendHtml } from "../page-kit.js";

export function registerBotsSettingsRoute(app: FastifyInstance, ctx: Context): void {
  app.get("/settings/bots", async (request, reply) => {
    const who = await requireLogin(ctx, request, reply);
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
        site: ctx.site.urlOf(who.realm.subdomain),
        botDomain: ctx.site.botDomainOf(who.realm.subdomain),
        bots,
      }),
    );
  });
}
