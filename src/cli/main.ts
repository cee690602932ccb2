/**
 * The `latchkey` command: run the server (`dev`, `serve`) and administer organizations and
 * accounts in the configured database.
 */
import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { runPrimary, runWorker } from "../cluster.js";
import { loadConfig, type Mode } from "../config.js";
import { createContext } from "../context.js";
import {
  AccountError,
  createAccount,
  createRealm,
  requireRealm,
  requireUser,
  setPassword,
  setRealmAuthMethods,
  setRealmDeactivated,
} from "../domain/accounts.js";
import { CLI_SOURCE } from "../domain/audit.js";
import { changeActivation } from "../domain/bots.js";
import type { Context } from "../domain/context.js";
import { setRealmLdapAutoCreate } from "../domain/ldap-login.js";
import { ROLE, ROLE_NAMES, type RoleName } from "../domain/model.js";
import { setRealmOidcAutoCreate } from "../domain/oidc-login.js";
import { passwordProblem } from "../domain/password-policy.js";
import { ConfigError } from "../env.js";
import { ZulipError } from "../errors.js";
import { loadOrCreateSecrets, SecretsError } from "../secrets.js";
import { closeOnSignals, startServer } from "../server.js";
import { syncKeyCache } from "../store/cache-sync.js";
import { openDatabase } from "../store/database.js";
import { executedMigrations, migrateToLatest, SchemaTooNewError } from "../store/migrations.js";
import { closeRedis, openRedis } from "../store/redis.js";
import { registerAdminCommands } from "./admin-commands.js";
import { registerBotCommands } from "./bot-commands.js";
import { CliError, enabledLoginMethods, jsonOption, printJson, realmJson, roleName, userJson } from "./command-kit.js";
import { registerImportCommand } from "./import-command.js";
import { registerLifecycleCommands } from "./lifecycle-commands.js";
import { registerLoginCommand } from "./login-command.js";
import { readPassword } from "./password-input.js";

function parseSwitch(value: string): boolean {
  if (value === "on" || value === "true") return true;
  if (value === "off" || value === "false") return false;
  throw new InvalidArgumentError("use on or off");
}

function parseWorkers(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 256)
    throw new InvalidArgumentError("a whole number from 1 to 256");
  return Number(value);
}

function parseRole(value: string): number {
  if (!(ROLE_NAMES as string[]).includes(value)) throw new InvalidArgumentError(`one of ${ROLE_NAMES.join(", ")}`);
  return ROLE[value as RoleName];
}

/** Runs an administration command against the database of the chosen mode. */
async function withContext<T>(options: { dev?: boolean }, work: (ctx: Context) => Promise<T>): Promise<T> {
  const mode: Mode = options.dev ? "development" : "production";
  const config = loadConfig(mode);
  const database = await openDatabase(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs });
  // With Redis configured, changes made here reach the servers' caches and throttles there.
  const redis = config.redisUrl === null ? null : await openRedis(config.redisUrl, console);
  const ctx = createContext({ config, database, secrets: loadOrCreateSecrets(config.secretsFile), redis });
  const sync = await syncKeyCache(database, ctx.keyCache, ctx.log, redis);
  try {
    return await work(ctx);
  } finally {
    await sync.close();
    if (redis !== null) await closeRedis(redis);
    await database.close();
  }
}

async function chooseNewPassword(skip: boolean): Promise<string | null> {
  if (skip) return null;
  const password = await readPassword();
  const problem = passwordProblem(password);
  if (problem !== null) throw new AccountError(problem);
  return password;
}

const devOption = new Option(
  "--dev",
  "use the development database (./var/dev.sqlite unless LATCHKEY_DATABASE_URL says otherwise)",
);
const realmOption = new Option("--realm <subdomain>", 'the organization\'s subdomain ("" is the root organization)').default("");

export function buildCli(): Command {
  const program = new Command("latchkey")
    .description("A Zulip-compatible API-key authentication server")
    // Usage errors end the command with status 2 (see main) and one line on stderr.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${text.trim().replace(/\s*\n\s*/g, " ")} (see --help)\n`) });

  program
    .command("dev")
    .description("run the development server (port 9991, demo organization, dev login endpoints)")
    .action(async () => closeOnSignals(await startServer(loadConfig("development"))));

  program
    .command("serve")
    .description("run the production server (no demo data, no dev endpoints)")
    .option(
      "--workers <n>",
      "server processes sharing the port (default: the number of cores)",
      parseWorkers,
      availableParallelism(),
    )
    .action(async (opts: { workers: number }) => {
      const config = loadConfig("production");
      if (cluster.isWorker) await runWorker(config);
      else if (opts.workers > 1) await runPrimary(config, opts.workers);
      else closeOnSignals(await startServer(config));
    });

  program
    .command("migrate")
    .description("apply the database migrations this version has and the database lacks, and say which")
    .addOption(devOption)
    .action(async (opts) => {
      const config = loadConfig(opts.dev ? "development" : "production");
      const database = await openDatabase(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs, migrate: false });
      try {
        const before = await executedMigrations(database.db, database.schema);
        const applied = await migrateToLatest(database.db, database.schema);
        for (const name of applied) console.log(`Applied ${name}.`);
        const total = before.length + applied.length;
        console.log(
          applied.length === 0
            ? `Nothing to apply: the database has all ${total} migrations.`
            : `The database is up to date: ${total} migrations, ${applied.length} applied now.`,
        );
      } finally {
        await database.close();
      }
    });

  const realm = program.command("realm").description("manage organizations");
  realm
    .command("create")
    .description("create an organization with its owner (password from a prompt or stdin)")
    .requiredOption("--subdomain <subdomain>", 'subdomain; "" for the root organization')
    .requiredOption("--name <name>", "organization name")
    .option("--description <text>", "organization description", "")
    .requiredOption("--owner-email <email>", "the owner's email")
    .requiredOption("--owner-name <name>", "the owner's full name")
    .option("--no-password", "create the owner without a password")
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const password = await chooseNewPassword(opts.password === false);
        const created = await ctx.stores.transaction(async (stores) => {
          const txCtx = { ...ctx, stores };
          const r = await createRealm(txCtx, { subdomain: opts.subdomain, name: opts.name, description: opts.description });
          const owner = await createAccount(txCtx, {
            realmId: r.id,
            email: opts.ownerEmail,
            fullName: opts.ownerName,
            role: ROLE.owner,
            password,
          });
          return { r, owner };
        });
        console.log(
          `Created organization "${created.r.name}" (subdomain "${created.r.subdomain}") with owner ${created.owner.user.deliveryEmail} (user id ${created.owner.user.id}).`,
        );
      }),
    );
  realm
    .command("list")
    .description("list organizations")
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const realms = await ctx.stores.realms.list();
        if (opts.json) return printJson(realms.map((r) => realmJson(ctx, r)));
        for (const r of realms) {
          const methods = enabledLoginMethods(r);
          console.log(
            `${JSON.stringify(r.subdomain)}\t${r.name}\t${ctx.site.urlOf(r.subdomain)}\t${r.deactivated ? "deactivated" : "active"}\tlogin: ${methods.join(",") || "none"}`,
          );
        }
      }),
    );
  for (const [name, deactivated] of [
    ["deactivate", true],
    ["reactivate", false],
  ] as const) {
    realm
      .command(name)
      .description(`${name} an organization`)
      .argument("<subdomain>", 'the organization\'s subdomain ("" for the root)')
      .addOption(devOption)
      .action(async (subdomain: string, opts) =>
        withContext(opts, async (ctx) => {
          const r = await setRealmDeactivated(ctx, (await requireRealm(ctx, subdomain)).id, deactivated);
          console.log(`Organization "${r.subdomain}" is now ${r.deactivated ? "deactivated" : "active"}.`);
        }),
      );
  }
  realm
    .command("login-methods")
    .description("turn login methods on or off for an organization")
    .argument("<subdomain>", 'the organization\'s subdomain ("" for the root)')
    .option("--email <on|off>", "password login against this server", parseSwitch)
    .option("--ldap <on|off>", "LDAP login", parseSwitch)
    .option("--dev <on|off>", "development login (development mode only)", parseSwitch)
    .option("--ldap-auto-create <on|off>", "create an account for a directory user on their first LDAP login", parseSwitch)
    .option("--oidc <on|off>", "OpenID Connect login through the providers of LATCHKEY_OIDC_IDPS", parseSwitch)
    .option(
      "--oidc-auto-create <on|off>",
      "create an account for a person an OpenID Connect provider vouches for (with the provider's auto_signup, or the sign-up link)",
      parseSwitch,
    )
    .option("--dev-database", "use the development database")
    .action(async (subdomain: string, opts) =>
      withContext({ dev: opts.devDatabase }, async (ctx) => {
        let r = await setRealmAuthMethods(ctx, (await requireRealm(ctx, subdomain)).id, {
          email: opts.email,
          ldap: opts.ldap,
          dev: opts.dev,
          oidc: opts.oidc,
        });
        if (opts.ldapAutoCreate !== undefined) r = await setRealmLdapAutoCreate(ctx, r.id, opts.ldapAutoCreate);
        if (opts.oidcAutoCreate !== undefined) r = await setRealmOidcAutoCreate(ctx, r.id, opts.oidcAutoCreate);
        console.log(
          `Login methods for "${r.subdomain}": ${JSON.stringify(r.authMethods)}; LDAP account creation ${r.ldapAutoCreate ? "on" : "off"}; OpenID Connect account creation ${r.oidcAutoCreate ? "on" : "off"}`,
        );
      }),
    );

  const user = program.command("user").description("manage accounts");
  user
    .command("create")
    .description("create an account (password from a prompt or stdin)")
    .addOption(realmOption)
    .requiredOption("--email <email>", "the account's email")
    .requiredOption("--full-name <name>", "full name")
    .addOption(new Option("--role <role>", `one of ${ROLE_NAMES.join(", ")}`).argParser(parseRole).default(ROLE.member, "member"))
    .option("--no-password", "create the account without a password")
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const r = await requireRealm(ctx, opts.realm);
        const password = await chooseNewPassword(opts.password === false);
        const { user: u } = await createAccount(ctx, {
          realmId: r.id,
          email: opts.email,
          fullName: opts.fullName,
          role: opts.role,
          password,
        });
        console.log(`Created ${u.deliveryEmail} (user id ${u.id}) in "${r.subdomain}".`);
      }),
    );
  user
    .command("list")
    .description("list the accounts of an organization")
    .addOption(realmOption)
    .addOption(jsonOption)
    .addOption(devOption)
    .action(async (opts) =>
      withContext(opts, async (ctx) => {
        const r = await requireRealm(ctx, opts.realm);
        const users = await ctx.stores.users.listByRealm(r.id);
        if (opts.json) return printJson(users.map(userJson));
        for (const u of users) {
          console.log(
            `${u.id}\t${u.deliveryEmail}\t${u.fullName}\t${roleName(u.role)}${u.isBot ? " (bot)" : ""}\t${u.isActive ? "active" : "deactivated"}`,
          );
        }
      }),
    );
  for (const [name, active] of [
    ["deactivate", false],
    ["reactivate", true],
  ] as const) {
    user
      .command(name)
      .description(`${name} an account${active ? "" : " (and the bots it owns)"}`)
      .argument("<email>", "the account's email")
      .addOption(realmOption)
      .addOption(devOption)
      .action(async (email: string, opts) =>
        withContext(opts, async (ctx) => {
          const u = await requireUser(ctx, await requireRealm(ctx, opts.realm), email);
          await changeActivation(ctx, u, active, null, CLI_SOURCE);
          console.log(`${u.deliveryEmail} is now ${active ? "active" : "deactivated"}.`);
        }),
      );
  }
  user
    .command("set-password")
    .description("set an account's password (from a prompt or stdin)")
    .argument("<email>", "the account's email")
    .addOption(realmOption)
    .addOption(devOption)
    .action(async (email: string, opts) =>
      withContext(opts, async (ctx) => {
        const u = await requireUser(ctx, await requireRealm(ctx, opts.realm), email);
        await setPassword(ctx, u, await chooseNewPassword(false));
        console.log(`Password changed for ${u.deliveryEmail}.`);
      }),
    );
  registerLifecycleCommands(program, { withContext, devOption, realmOption });
  registerImportCommand(program, { withContext, devOption });
  registerBotCommands(program, { withContext, devOption, realmOption });
  registerAdminCommands({ realm, user }, { withContext, devOption, realmOption });
  registerLoginCommand(program);
  return program;
}

/** Exit statuses: 0 done, 1 the command could not be done (one line on stderr), 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    // --help and --version end with status 0; commander has printed every other usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (
      err instanceof CliError ||
      err instanceof ZulipError ||
      err instanceof ConfigError ||
      err instanceof AccountError ||
      err instanceof SecretsError ||
      err instanceof SchemaTooNewError
    ) {
      console.error(`latchkey: ${err.message}`);
      return EXIT.failed;
    }
    throw err;
  }
}
