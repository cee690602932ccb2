/** `latchkey import zulip-export`: bring a Zulip organization's accounts, bots and keys in from a data export. */
import type { Command, Option } from "commander";
import type { Context } from "../domain/context.js";
import { readZulipExport } from "../import/zulip-export-reader.js";
import { changedNothing, type ImportSummary, importZulipExport } from "../import/zulip-import.js";

export interface ImportCommandOptions {
  withContext: <T>(options: { dev?: boolean }, work: (ctx: Context) => Promise<T>) => Promise<T>;
  devOption: Option;
}

/** What a progress bar needs of its stream; the bar is drawn only on a terminal. */
interface Terminal {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/**
 * A one-line bar redrawn in place (`Importing accounts [#####.....] 12/40`), or nothing when the
 * stream is not a terminal, so logs and pipes get only the summary. A dozen lines of our own: the
 * bar libraries bring far more than this needs.
 */
export function progressBar(stream: Terminal, label: string): { update(done: number, total: number): void; end(): void } {
  if (stream.isTTY !== true) return { update() {}, end() {} };
  let drawn = false;
  return {
    update(done, total) {
      const counter = ` ${done}/${total}`;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - counter.length - 3));
      const filled = total === 0 ? width : Math.round((done / total) * width);
      stream.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}]${counter}`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write("\n");
    },
  };
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** The lines printed when the import is done. */
export function describeSummary(s: ImportSummary): string[] {
  const org = `organization "${s.realm.name}" (subdomain "${s.realm.subdomain}")`;
  if (changedNothing(s)) {
    return [
      `Nothing to import: ${org}, ${plural(s.users.present, "user", "users")} and ${plural(s.bots.present, "bot", "bots")} already present.`,
    ];
  }
  return [
    `Organization "${s.realm.name}" (subdomain "${s.realm.subdomain}"): ${s.realm.created ? "created" : "already present"}.`,
    `Users: ${s.users.imported} imported, ${s.users.present} already present (skipped).`,
    `Bots: ${s.bots.imported} imported, ${s.bots.present} already present (skipped).`,
    `Deactivated accounts among those imported: ${s.users.deactivated}.`,
    `Passwords: ${s.passwords.kept} kept, ${s.passwords.unusable} without a usable password (they need a password reset).`,
    `API keys: ${s.keys.kept} kept, ${s.keys.generated} new (the export had none for those accounts).`,
  ];
}

export function registerImportCommand(program: Command, options: ImportCommandOptions): void {
  const { withContext, devOption } = options;
  program
    .command("import")
    .description("import organizations from other servers")
    .command("zulip-export")
    .description(
      "import a Zulip data export (./manage.py export): the organization, accounts with roles, bots, password hashes, API keys",
    )
    .argument("<dir-or-tarball>", "the export's .tar.gz/.tgz archive, or the directory it unpacks to")
    .option("--realm <subdomain>", 'import into this subdomain ("" for the root organization) instead of the export\'s')
    .addOption(devOption)
    .action(async (path: string, opts: { realm?: string; dev?: boolean }) => {
      const data = await readZulipExport(path);
      const summary = await withContext(opts, async (ctx) => {
        const bar = progressBar(process.stderr, "Importing accounts");
        try {
          return await importZulipExport(ctx, data, {
            ...(opts.realm === undefined ? {} : { subdomain: opts.realm }),
            onProgress: (done, total) => bar.update(done, total),
          });
        } finally {
          bar.end();
        }
      });
      for (const line of describeSummary(summary)) console.log(line);
    });
}
