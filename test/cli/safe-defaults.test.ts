/**
 * Safe by default, whichever command runs first: `serve` refuses to start without somewhere to
 * send email (it would otherwise write live reset links into a folder), says so in one line and
 * starts once a mail server or an outbox folder is named; plain ldap:// without StartTLS and
 * SMTP without STARTTLS are warned about at boot; the data directory is created 0700, the
 * SQLite database and its WAL files 0600, and a secrets file readable by others is refused.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadOrCreateSecrets, SecretsError } from "../../src/secrets.js";

const BIN = join(import.meta.dirname, "..", "..", "bin", "latchkey.js");
const scratch = mkdtempSync(join(tmpdir(), "latchkey-defaults-"));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `latchkey ...args` in `cwd` with only these settings, until it exits or prints `until`. */
function latchkey(cwd: string, args: string[], env: Record<string, string>, until?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, PORT: "0", HOST: "127.0.0.1", LATCHKEY_HASH_CONCURRENCY: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let settled = false;
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      resolve({ code, stdout, stderr });
    };
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (until?.test(stdout)) {
        child.once("close", () => finish(null));
        child.kill("SIGTERM");
      }
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    // "close", not "exit": the output is complete only once the pipes have closed.
    child.on("close", (code) => finish(code));
  });
}

function freshDir(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  return dir;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const LISTENING = /Latchkey listening on|Latchkey \(development\) listening on/;

describe("safe defaults", { timeout: 300_000 }, () => {
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("serve without a mail server or an outbox folder refuses to start, in one line naming the settings", async () => {
    const dir = freshDir("no-mail");
    const run = await latchkey(dir, ["serve"], { LATCHKEY_EXTERNAL_HOST: "chat.example.com" });
    assert.notEqual(run.code, 0);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] as string, /LATCHKEY_SMTP_URL/);
    assert.match(lines[0] as string, /LATCHKEY_EMAIL_OUTBOX/);
    assert.equal(existsSync(join(dir, "var", "outbox")), false, "no outbox was made");
    // Named explicitly, an outbox folder is accepted.
    const started = await latchkey(
      dir,
      ["serve"],
      { LATCHKEY_EXTERNAL_HOST: "chat.example.com", LATCHKEY_EMAIL_OUTBOX: join(dir, "mail") },
      LISTENING,
    );
    assert.match(started.stdout, LISTENING, started.stderr);
  });

  test("the first command to run creates ./var 0700 and the database 0600: the CLI", async () => {
    const dir = freshDir("cli-first");
    const run = await latchkey(dir, ["realm", "list"], {});
    assert.equal(run.code, 0, run.stderr);
    assert.equal(mode(join(dir, "var")), "700");
    assert.equal(mode(join(dir, "var", "latchkey.sqlite")), "600");
    assert.equal(mode(join(dir, "var", "secrets.json")), "600");
  });

  test("the first command to run creates ./var 0700 and the database 0600: the development server", async () => {
    const dir = freshDir("dev-first");
    const run = await latchkey(dir, ["dev"], {}, LISTENING);
    assert.match(run.stdout, LISTENING, run.stderr);
    assert.equal(mode(join(dir, "var")), "700");
    for (const file of ["dev.sqlite", "dev.sqlite-wal", "dev.sqlite-shm", "secrets.json"]) {
      if (file.endsWith("-wal") || file.endsWith("-shm")) {
        if (existsSync(join(dir, "var", file))) assert.equal(mode(join(dir, "var", file)), "600", file);
      } else {
        assert.equal(mode(join(dir, "var", file)), "600", file);
      }
    }
  });

  test("a secrets file readable by group or others is refused, by every command", async () => {
    const dir = freshDir("loose-secrets");
    mkdirSync(join(dir, "var"), { mode: 0o700 });
    const secrets = join(dir, "var", "secrets.json");
    const body = { keySealingKey: "a", hmacPepper: "b", sessionSecret: "c" };
    writeFileSync(secrets, JSON.stringify(body));
    chmodSync(secrets, 0o644);
    for (const args of [["realm", "list"], ["serve"]]) {
      const run = await latchkey(dir, args, { LATCHKEY_EMAIL_OUTBOX: join(dir, "mail") });
      assert.notEqual(run.code, 0, args.join(" "));
      assert.match(run.stderr, /readable by group or others \(mode 644\); run: chmod 600/, args.join(" "));
    }
    assert.throws(() => loadOrCreateSecrets(secrets), SecretsError);
    // A name that points elsewhere and does not resolve is never written through.
    const dangling = join(dir, "var", "dangling.json");
    symlinkSync(join(dir, "nowhere", "secrets.json"), dangling);
    assert.throws(() => loadOrCreateSecrets(dangling));
    assert.equal(existsSync(join(dir, "nowhere")), false);
  });

  test("plain ldap:// without StartTLS and SMTP without STARTTLS are warned about at boot", async () => {
    const dir = freshDir("warnings");
    const run = await latchkey(
      dir,
      ["serve"],
      {
        LATCHKEY_LOG_LEVEL: "warn",
        LATCHKEY_SMTP_URL: "smtp://127.0.0.1:1",
        LATCHKEY_SMTP_REQUIRE_TLS: "false",
        LATCHKEY_LDAP_SERVER_URI: "ldap://127.0.0.1:1",
        LATCHKEY_LDAP_USER_SEARCH_BASE: "ou=people,dc=example,dc=com",
        LATCHKEY_LDAP_APPEND_DOMAIN: "example.com",
      },
      LISTENING,
    );
    assert.match(run.stdout, LISTENING, run.stderr);
    const warnings = run.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((line) => line.level === 40)
      .map((line) => line.msg);
    assert.deepEqual(warnings, [
      "LATCHKEY_LDAP_SERVER_URI uses ldap:// without LATCHKEY_LDAP_START_TLS: directory passwords cross the network in the clear",
      "LATCHKEY_SMTP_REQUIRE_TLS is off: password-reset links may cross the network in the clear",
    ]);
  });
});
