/**
 * `latchkey login --site URL`: logs in to a Latchkey or Zulip server with a password, as Zulip's
 * apps do (docs/zulip-rules.md §3, §1), and writes the zuliprc the Python bindings, zulip-js and
 * the terminal app read (§9), private to its owner.
 */
import { randomBytes } from "node:crypto";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { createClient, type ServerSettings, ZulipApiError } from "../client/index.js";
import { renderZuliprc } from "../domain/zuliprc.js";
import { CliError } from "./command-kit.js";
import { promptLine, readFirstLine } from "./password-input.js";

interface LoginOptions {
  site: string;
  email?: string;
  output?: string;
  force?: boolean;
  passwordStdin?: boolean;
}

/** What went wrong on the way to the server, in plain words. */
function unreachable(site: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const reasons: Record<string, string> = {
    ECONNREFUSED: "nothing is listening there",
    ENOTFOUND: "the host name does not resolve",
    EAI_AGAIN: "the host name does not resolve",
    ECONNRESET: "the connection was reset",
    ETIMEDOUT: "the connection timed out",
    UND_ERR_CONNECT_TIMEOUT: "the connection timed out",
  };
  const reason = (cause?.code !== undefined ? reasons[cause.code] : undefined) ?? cause?.message ?? String(err);
  return new CliError(`cannot reach ${site}: ${reason}`);
}

/** The server's settings, or a one-line error saying why there is nothing to log in to. */
async function readServerSettings(client: ReturnType<typeof createClient>): Promise<ServerSettings> {
  try {
    const settings = await client.getServerSettings();
    // At a root URL with no organization there, the answer leaves out the organization's keys.
    if (settings.realm_name === undefined) throw new CliError(`there is no organization at ${client.site}`);
    return settings;
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof ZulipApiError) {
      if (err.msg === "Invalid subdomain" || err.msg === "Subdomain required") {
        throw new CliError(`there is no organization at ${client.site}`);
      }
      if (err.body === null) throw new CliError(`${client.site} does not answer as a Zulip server (HTTP ${err.status})`);
      throw new CliError(`${client.site} refused to describe itself: ${err.msg}`);
    }
    throw unreachable(client.site, err);
  }
}

/** A refused login in plain words (the `code`s of docs/zulip-rules.md §1, step 6). */
function loginRefused(err: ZulipApiError, site: string, username: string, label: string): CliError {
  switch (err.code) {
    case "AUTHENTICATION_FAILED":
      return new CliError(`wrong ${label.toLowerCase()} or password for ${site}`);
    case "USER_DEACTIVATED":
      return new CliError(`the account ${username} is deactivated; an administrator of the organization can reactivate it`);
    case "REALM_DEACTIVATED":
      return new CliError(`the organization at ${site} has been deactivated`);
    case "PASSWORD_AUTH_DISABLED":
      return new CliError(`the organization at ${site} does not allow password login; log in another way in the web app`);
    case "PASSWORD_RESET_REQUIRED":
      return new CliError("the password of this account has been disabled; reset it from the login page");
    case "RATE_LIMIT_HIT": {
      const wait = err.retryAfter === undefined ? "a while" : `${Math.max(1, Math.ceil(err.retryAfter))} seconds`;
      return new CliError(`too many login attempts; try again in ${wait}`);
    }
    case "NONEXISTENT_SUBDOMAIN":
      return new CliError(`there is no organization at ${site}`);
  }
  if (err.status === 503) return new CliError(`the server cannot check passwords right now; try again later (${err.msg})`);
  if (err.msg === "Enter a valid email address.") return new CliError(`${username} is not an email address`);
  return new CliError(`the server refused the login: ${err.msg} (HTTP ${err.status})`);
}

/**
 * Writes the file readable by its owner alone. Without `force` an existing file is never
 * replaced (the exclusive create fails instead); with it, a private temporary file is renamed
 * over the old one, so the result has mode 0600 whatever the old file's mode was.
 */
function writePrivateFile(path: string, text: string, force: boolean): void {
  if (!force) {
    try {
      writeFileSync(path, text, { mode: 0o600, flag: "wx" });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw alreadyThere(path);
      throw cannotWrite(path, err);
    }
  }
  const temporary = join(dirname(path), `.zuliprc-${randomBytes(6).toString("hex")}`);
  try {
    writeFileSync(temporary, text, { mode: 0o600, flag: "wx" });
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw cannotWrite(path, err);
  }
}

function alreadyThere(path: string): CliError {
  return new CliError(`${path} already exists; add --force to replace it`);
}

function cannotWrite(path: string, err: unknown): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    ENOENT: "its folder does not exist",
    EACCES: "permission denied",
    EISDIR: "it is a folder",
    ENOTDIR: "a part of its path is not a folder",
  };
  return new CliError(`cannot write ${path}: ${(code !== undefined ? reasons[code] : undefined) ?? String(err)}`);
}

async function logIn(opts: LoginOptions): Promise<void> {
  const path = resolve(opts.output ?? join(homedir(), ".zuliprc"));
  // Said before the password is asked for, not after.
  if (!opts.force && existsSync(path)) throw alreadyThere(path);
  if (opts.passwordStdin && opts.email === undefined) throw new CliError("--password-stdin needs --email");
  if (!opts.passwordStdin && !process.stdin.isTTY) {
    throw new CliError("no terminal to ask for the password on; use --password-stdin with --email");
  }

  const client = createClient({ site: opts.site, userAgent: "latchkey-login" });
  if (!URL.canParse(client.site)) throw new CliError(`--site ${opts.site} is not a URL`);
  const settings = await readServerSettings(client);
  // LDAP organizations log in with a directory username (docs/zulip-rules.md §4.3).
  const label = settings.require_email_format_usernames === false ? "Username" : "Email";
  const site = settings.realm_uri ?? settings.realm_url ?? client.site;

  let username = opts.email;
  if (username === undefined) {
    process.stderr.write(`Logging in to ${settings.realm_name} (${site})\n`);
    username = (await promptLine(`${label}: `, { hidden: false })).trim();
  }
  if (username === "") throw new CliError(`no ${label.toLowerCase()} given`);
  const password = opts.passwordStdin ? await readFirstLine(process.stdin) : await promptLine("Password: ", { hidden: true });
  if (password === "") throw new CliError(opts.passwordStdin ? "no password on stdin" : "no password given");

  let answer: { api_key: string; email: string };
  try {
    answer = await client.fetchApiKey({ username, password });
  } catch (err) {
    if (err instanceof ZulipApiError) throw loginRefused(err, site, username, label);
    throw unreachable(client.site, err);
  }
  writePrivateFile(path, renderZuliprc({ email: answer.email, apiKey: answer.api_key, site }), opts.force === true);
  console.log(`Logged in to ${site} as ${answer.email}; wrote ${path}`);
}

export function registerLoginCommand(program: Command): void {
  program
    .command("login")
    .description("log in to a Latchkey or Zulip server with a password and write a zuliprc (mode 0600)")
    .requiredOption("--site <url>", "the organization's URL (https:// is assumed unless it is localhost)")
    .option("--email <email>", "log in as this account instead of being asked (an LDAP username where the server uses them)")
    .option("--output <path>", "where to write the zuliprc (default: ~/.zuliprc)")
    .option("--force", "replace the file if it exists")
    .option("--password-stdin", "read the password from the first line of stdin instead of a prompt (needs --email)")
    .action(async (opts: LoginOptions) => logIn(opts));
}
