/** `latchkey zuliprc` and `latchkey audit list`: key lifecycle commands for administrators. */
import { type Command, InvalidArgumentError, type Option } from "commander";
import { requireRealm, requireUser } from "../domain/accounts.js";
import { auditEventName } from "../domain/audit.js";
import type { Context } from "../domain/context.js";
import { zuliprcFor } from "../domain/zuliprc.js";
import { jsonOption } from "./command-kit.js";

export interface LifecycleCommandOptions {
  withContext: <T>(options: { dev?: boolean }, work: (ctx: Context) => Promise<T>) => Promise<T>;
  devOption: Option;
  realmOption: Option;
  out?: (line: string) => void;
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) {
    throw new InvalidArgumentError("a whole number from 1 to 100000");
  }
  return Number(value);
}

export function registerLifecycleCommands(program: Command, options: LifecycleCommandOptions): void {
  const { withContext, devOption, realmOption } = options;
  const out = options.out ?? ((line: string) => console.log(line));

  program
    .command("zuliprc")
    .description("print the zuliprc of an account or bot (email, API key, site; token for outgoing-webhook bots)")
    .argument("<email>", "the account's email")
    .addOption(realmOption)
    .addOption(devOption)
    .action(async (email: string, opts) =>
      withContext(opts, async (ctx) => {
        const user = await requireUser(ctx, await requireRealm(ctx, opts.realm), email);
        // The file ends with its own newline.
        out((await zuliprcFor(ctx, user)).replace(/\n$/, ""));
      }),
    );

  const audit = program.command("audit").description("read the audit log");
  audit
    .command("list")
    .description("list an organization's audit events, newest first")
    .addOption(realmOption)
    .option("--limit <n>", "how many events", parseLimit, 50)
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const realm = await requireRealm(ctx, opts.realm);
        const emails = new Map<number, string>();
        const emailOf = async (id: number | null): Promise<string> => {
          if (id === null) return "-";
          let email = emails.get(id);
          if (email === undefined) {
            email = (await ctx.stores.users.findById(id))?.deliveryEmail ?? `user ${id}`;
            emails.set(id, email);
          }
          return email;
        };
        const events = await ctx.stores.auditLog.list(realm.id, opts.limit);
        if (opts.json) {
          const rows = [];
          for (const event of events) {
            rows.push({
              event_time: new Date(event.eventTime).toISOString(),
              event_type: auditEventName(event.eventType),
              acting_user: event.actingUserId === null ? null : await emailOf(event.actingUserId),
              modified_user: event.modifiedUserId === null ? null : await emailOf(event.modifiedUserId),
              ip: event.ip,
              client: event.client,
              extra: event.extra,
            });
          }
          out(JSON.stringify(rows, null, 2));
          return;
        }
        for (const event of events) {
          out(
            [
              new Date(event.eventTime).toISOString(),
              auditEventName(event.eventType),
              `by ${await emailOf(event.actingUserId)}`,
              `on ${await emailOf(event.modifiedUserId)}`,
              `ip ${event.ip ?? "-"}`,
              `client ${event.client ?? "-"}`,
              JSON.stringify(event.extra),
            ].join("\t"),
          );
        }
      }),
    );
}
