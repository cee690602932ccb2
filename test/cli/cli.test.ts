/**
 * The real `latchkey` command (bin/latchkey.js in child processes) on a temporary SQLite file:
 * create an organization with its owner, accounts with passwords on stdin, login methods,
 * deactivation and reactivation; and a `latchkey serve` process on the same database that
 * sees each change at once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CliRun, type NodeProcess, runCli, startNode } from "../cluster-helper.js";
import { createElsinore } from "./cli-runner.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
const env: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  HOME: dir,
  LATCHKEY_DATABASE_URL: join(dir, "db.sqlite"),
  LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
  LATCHKEY_EXTERNAL_HOST: "127.0.0.1",
  LATCHKEY_EXTERNAL_SCHEME: "http",
  LATCHKEY_LOG_LEVEL: "silent",
  LATCHKEY_HASH_CONCURRENCY: "1",
  // A provider that is listed but never asked: nothing here logs in through it.
  LATCHKEY_OIDC_IDPS: JSON.stringify({
    corp: { display_name: "Corp", oidc_url: "https://idp.example.com", client_id: "latchkey", secret: "s" },
  }),
  LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
};

/** Runs `latchkey ...args` with `stdin` as its input and waits for it to exit. */
const latchkey = (args: string[], stdin = ""): Promise<CliRun> => runCli(env, args, stdin);

async function ok(args: string[], stdin = ""): Promise<string> {
  const run = await latchkey(args, stdin);
  assert.equal(run.code, 0, `latchkey ${args.join(" ")}: ${run.stderr}${run.stdout}`);
  return run.stdout;
}

const OWNER_PASSWORD = "Elsinore-Castle-Owner-42";
const OPHELIA_PASSWORD = "Flowers-For-Laertes-17";

let server: NodeProcess | null = null;
let base = "";

before(async () => {
  const created = await createElsinore({ ok }, OWNER_PASSWORD, ["--description", "Something is rotten"]);
  assert.match(
    created,
    /^Created organization "Elsinore" \(subdomain ""\) with owner claudius@elsinore\.dk \(user id \d+\)\.\n$/,
  );
});

describe("cli", () => {
  after(async () => {
    await server?.stop("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `latchkey serve` on a free port and waits for its "listening" line. */
  async function serve(): Promise<string> {
    server = await startNode({ ...env, PORT: "0", HOST: "127.0.0.1" }, ["serve"]);
    return `http://127.0.0.1:${server.port}`;
  }

  async function fetchApiKey(username: string, password: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}/api/v1/fetch_api_key`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username, password }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function usersMe(email: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}/api/v1/users/me`, {
      headers: { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  test("accounts: created with the password on stdin; weak passwords and duplicates refused with a message", async () => {
    assert.match(
      await ok(["user", "create", "--email", "ophelia@elsinore.dk", "--full-name", "Ophelia"], `${OPHELIA_PASSWORD}\n`),
      /^Created ophelia@elsinore\.dk \(user id \d+\) in ""\.\n$/,
    );
    await ok(
      ["user", "create", "--email", "polonius@elsinore.dk", "--full-name", "Polonius", "--role", "moderator"],
      "Behind-The-Arras-99\n",
    );

    const weak = await latchkey(["user", "create", "--email", "yorick@elsinore.dk", "--full-name", "Yorick"], "abc\n");
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /^latchkey: The password is too short/);
    const duplicate = await latchkey(
      ["user", "create", "--email", "OPHELIA@elsinore.dk", "--full-name", "Again"],
      `${OPHELIA_PASSWORD}\n`,
    );
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /already exists/);
    const badRole = await latchkey(
      ["user", "create", "--email", "x@elsinore.dk", "--full-name", "X", "--role", "king"],
      "Whatever-Long-Passw0rd\n",
    );
    assert.notEqual(badRole.code, 0);
    // The help names the default role as people type it, not as its number.
    const help = await ok(["user", "create", "--help"]);
    assert.match(help, /guest\s+\(default: member\)/);

    const list = await ok(["user", "list"]);
    const rows = list.trim().split("\n");
    assert.equal(rows.length, 3);
    assert.match(rows[0] as string, /^\d+\tclaudius@elsinore\.dk\tClaudius\towner\tactive$/);
    assert.match(rows[1] as string, /^\d+\tophelia@elsinore\.dk\tOphelia\tmember\tactive$/);
    assert.match(rows[2] as string, /^\d+\tpolonius@elsinore\.dk\tPolonius\tmoderator\tactive$/);
    // The secrets file was created private.
    assert.equal(statSync(env.LATCHKEY_SECRETS_FILE as string).mode & 0o777, 0o600);
  });

  test("latchkey serve on that database: the created users log in, and CLI changes take effect at once", async () => {
    base = await serve();

    const owner = await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD);
    assert.equal(owner.status, 200, JSON.stringify(owner.body));
    assert.equal(owner.body.email, "claudius@elsinore.dk");
    const ophelia = await fetchApiKey("Ophelia@Elsinore.dk", OPHELIA_PASSWORD);
    assert.equal(ophelia.status, 200, JSON.stringify(ophelia.body));
    const key = ophelia.body.api_key as string;
    assert.match(key, /^[A-Za-z0-9]{32}$/);
    const me = await usersMe("ophelia@elsinore.dk", key);
    assert.equal(me.status, 200);
    assert.equal(me.body.full_name, "Ophelia");
    assert.equal((await fetchApiKey("ophelia@elsinore.dk", "wrong-password")).body.code, "AUTHENTICATION_FAILED");
    // Production mode: no dev endpoints, and the answer is the JSON 404, not a page.
    for (const [method, path] of [
      ["GET", "/api/v1/dev_list_users"],
      ["POST", "/api/v1/dev_fetch_api_key"],
    ] as const) {
      const res = await fetch(`${base}${path}`, {
        method,
        ...(method === "POST" ? { body: new URLSearchParams({ username: "claudius@elsinore.dk" }) } : {}),
      });
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(await res.json(), { result: "error", msg: "Not Found", code: "BAD_REQUEST" });
      assert.equal(res.headers.get("set-cookie"), null);
    }

    // Deactivating an account: no login, and its cached key stops working.
    assert.match(await ok(["user", "deactivate", "ophelia@elsinore.dk"]), /^ophelia@elsinore\.dk is now deactivated\.\n$/);
    assert.deepEqual(await fetchApiKey("ophelia@elsinore.dk", OPHELIA_PASSWORD), {
      status: 401,
      body: { result: "error", msg: "Account is deactivated", code: "USER_DEACTIVATED" },
    });
    assert.deepEqual(await usersMe("ophelia@elsinore.dk", key), {
      status: 401,
      body: { result: "error", msg: "Account is deactivated", code: "UNAUTHORIZED" },
    });
    assert.match(await ok(["user", "list"]), /ophelia@elsinore\.dk\tOphelia\tmember\tdeactivated/);
    await ok(["user", "reactivate", "ophelia@elsinore.dk"]);
    assert.equal((await usersMe("ophelia@elsinore.dk", key)).status, 200);
    assert.equal((await fetchApiKey("ophelia@elsinore.dk", OPHELIA_PASSWORD)).status, 200);

    // A new password from stdin.
    await ok(["user", "set-password", "ophelia@elsinore.dk"], "Get-Thee-To-A-Nunnery-1\n");
    assert.equal((await fetchApiKey("ophelia@elsinore.dk", OPHELIA_PASSWORD)).status, 401);
    assert.equal((await fetchApiKey("ophelia@elsinore.dk", "Get-Thee-To-A-Nunnery-1")).status, 200);

    // Login methods.
    const off = await ok(["realm", "login-methods", "", "--email", "off"]);
    assert.equal(
      off,
      'Login methods for "": {"email":false,"ldap":false,"dev":true,"oidc":true}; LDAP account creation off; OpenID Connect account creation off\n',
    );
    assert.deepEqual(await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD), {
      status: 401,
      body: { result: "error", msg: "Password authentication is disabled in this organization", code: "PASSWORD_AUTH_DISABLED" },
    });
    const settings = (await (await fetch(`${base}/api/v1/server_settings`)).json()) as Record<string, unknown>;
    assert.equal(settings.email_auth_enabled, false);
    assert.equal(settings.realm_name, "Elsinore");
    assert.deepEqual(settings.external_authentication_methods, [
      {
        name: "oidc:oidc",
        display_name: "Corp",
        display_icon: null,
        login_url: "/accounts/login/social/oidc",
        signup_url: "/accounts/register/social/oidc",
      },
    ]);
    const oidc = await ok(["realm", "login-methods", "", "--oidc", "off", "--oidc-auto-create", "on"]);
    assert.match(oidc, /"oidc":false\}; LDAP account creation off; OpenID Connect account creation on\n$/);
    const noOidc = (await (await fetch(`${base}/api/v1/server_settings`)).json()) as Record<string, unknown>;
    assert.deepEqual(noOidc.external_authentication_methods, []);
    assert.equal((noOidc.authentication_methods as Record<string, boolean>)["openid connect"], false);
    await ok(["realm", "login-methods", "", "--email", "on", "--dev", "off", "--oidc", "on"]);
    assert.equal((await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD)).status, 200);
    const invalidSwitch = await latchkey(["realm", "login-methods", "", "--email", "maybe"]);
    assert.notEqual(invalidSwitch.code, 0);

    // Deactivating the organization.
    assert.match(await ok(["realm", "deactivate", ""]), /^Organization "" is now deactivated\.\n$/);
    assert.deepEqual(await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD), {
      status: 401,
      body: { result: "error", msg: "This organization has been deactivated", code: "REALM_DEACTIVATED" },
    });
    assert.equal((await usersMe("ophelia@elsinore.dk", key)).body.msg, "This organization has been deactivated");
    assert.match(await ok(["realm", "list"]), /^""\tElsinore\thttp:\/\/127\.0\.0\.1\tdeactivated\tlogin: email,oidc\n$/);
    await ok(["realm", "reactivate", ""]);
    assert.equal((await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD)).status, 200);
    assert.equal((await usersMe("ophelia@elsinore.dk", key)).status, 200);

    // A deactivated user stays refused while others log in.
    await ok(["user", "deactivate", "polonius@elsinore.dk"]);
    assert.equal((await fetchApiKey("polonius@elsinore.dk", "Behind-The-Arras-99")).body.code, "USER_DEACTIVATED");
    assert.equal((await fetchApiKey("claudius@elsinore.dk", OWNER_PASSWORD)).status, 200);

    // Errors that name what is missing.
    const noUser = await latchkey(["user", "deactivate", "hamlet@elsinore.dk"]);
    assert.equal(noUser.code, 1);
    assert.equal(noUser.stderr, "latchkey: no account hamlet@elsinore.dk in this organization\n");
    const noRealm = await latchkey(["realm", "deactivate", "denmark"]);
    assert.equal(noRealm.code, 1);
    assert.equal(noRealm.stderr, 'latchkey: no organization at subdomain "denmark"\n');
  });
});
