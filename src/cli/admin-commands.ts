/**
 * `latchkey user regenerate-key`, `latchkey user set-role` and `latchkey realm show`: the same
 * changes the API makes (docs/zulip-rules.md §7.3 for keys), with the administrator at the
 * command line as the actor: audit events name no acting user and the client `latchkey-cli`.
 */
import type { Command } from "commander";
import { changeRole, requireRealm, requireUser } from "../domain/accounts.js";
import { CLI_SOURCE } from "../domain/audit.js";
import { regenerateApiKey } from "../domain/key-lifecycle.js";
import { ROLE, ROLE_NAMES, type User } from "../domain/model.js";
import {
  type CommandOptions,
  enabledLoginMethods,
  jsonOption,
  parseRoleName,
  printJson,
  realmJson,
  roleName,
} from "./command-kit.js";

/** How many accounts an organization has, people by role and bots, active and not. */
function countAccounts(users: User[]): Record<string, unknown> {
  const people = users.filter((u) => !u.isBot);
  const bots = users.filter((u) => u.isBot);
  const byRole: Record<string, number> = {};
  for (const name of ROLE_NAMES) byRole[name] = people.filter((u) => u.isActive && u.role === ROLE[name]).length;
  return {
    people: { active: people.filter((u) => u.isActive).length, deactivated: people.filter((u) => !u.isActive).length },
    active_people_by_role: byRole,
    bots: { active: bots.filter((u) => u.isActive).length, deactivated: bots.filter((u) => !u.isActive).length },
    owners: people.filter((u) => u.isActive && u.role === ROLE.owner).map((u) => u.deliveryEmail),
  };
}

export function registerAdminCommands(
  groups: { realm: Command; user: Command },
  { withContext, devOption, realmOption }: CommandOptions,
): void {
  groups.realm
    .command("show")
    .description("show an organization: its URL, status, login methods and how many accounts it has")
    .argument("<subdomain>", 'the organization\'s subdomain ("" for the root)')
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (subdomain: string, opts) =>
      withContext(opts, async (ctx) => {
        const realm = await requireRealm(ctx, subdomain);
        const counts = countAccounts(await ctx.stores.users.listByRealm(realm.id));
        if (opts.json) return printJson({ ...realmJson(ctx, realm), ...counts });
        const people = counts.people as { active: number; deactivated: number };
        const bots = counts.bots as { active: number; deactivated: number };
        const byRole = Object.entries(counts.active_people_by_role as Record<string, number>)
          .filter(([, n]) => n > 0)
          .map(([name, n]) => `${n} ${name}`);
        const rows: [string, string][] = [
          ["Subdomain", JSON.stringify(realm.subdomain)],
          ["Name", realm.name],
          ["Description", realm.description],
          ["URL", ctx.site.urlOf(realm.subdomain)],
          ["Status", realm.deactivated ? "deactivated" : "active"],
          ["Created", new Date(realm.dateCreated).toISOString()],
          ["Login methods", enabledLoginMethods(realm).join(", ") || "none"],
          ["LDAP account creation", realm.ldapAutoCreate ? "on" : "off"],
          ["OpenID Connect account creation", realm.oidcAutoCreate ? "on" : "off"],
          ["People", `${people.active} active (${byRole.join(", ") || "none"}), ${people.deactivated} deactivated`],
          ["Bots", `${bots.active} active, ${bots.deactivated} deactivated`],
          ["Owners", (counts.owners as string[]).join(", ") || "none"],
        ];
        for (const [label, value] of rows) console.log(`${label}: ${value}`);
      }),
    );

  groups.user
    .command("regenerate-key")
    .description(
      "give an account a new API key: the old one stops working at once, its mobile push registrations end, and the change is audited",
    )
    .argument("<email>", "the account's email")
    .addOption(realmOption)
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (email: string, opts) =>
      withContext(opts, async (ctx) => {
        const target = await requireUser(ctx, await requireRealm(ctx, opts.realm), email);
        const apiKey = (await regenerateApiKey(ctx, { user: target, acting: null, source: CLI_SOURCE })) as string;
        if (opts.json) return printJson({ user_id: target.id, email: target.deliveryEmail, api_key: apiKey });
        console.log(`New API key for ${target.deliveryEmail}: ${apiKey} (the old key no longer works)`);
      }),
    );

  groups.user
    .command("set-role")
    .description(`change an account's role (${ROLE_NAMES.join(", ")}); an organization keeps at least one owner`)
    .argument("<email>", "the account's email")
    .argument("<role>", `one of ${ROLE_NAMES.join(", ")}`)
    .addOption(realmOption)
    .addOption(devOption)
    .action(async (email: string, role: string, opts) => {
      const newRole = parseRoleName(role);
      await withContext(opts, async (ctx) => {
        const target = await requireUser(ctx, await requireRealm(ctx, opts.realm), email);
        const changed = await changeRole(ctx, target, newRole, null, CLI_SOURCE);
        console.log(
          changed
            ? `${target.deliveryEmail} is now ${roleName(newRole)} (was ${roleName(target.role)}).`
            : `${target.deliveryEmail} is already ${roleName(newRole)}.`,
        );
      });
    });
}
