/**
 * The administration commands for bots, keys, roles and organizations, run as the real `latchkey`
 * binary on a scratch SQLite database while `latchkey serve` answers on the same database: each
 * change is checked where a user meets it (a key that works or gets 401 over HTTP, zulip-js
 * reading a printed zuliprc, `/users/me`, the audit log), and so are the exit statuses.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import zulipInit from "zulip-js";
import { assertOneLineError, createElsinore, makeScratch, type Scratch, usersMe } from "./cli-runner.js";

const OWNER_PASSWORD = "Elsinore-Castle-Owner-42";
const HAMLET_PASSWORD = "To-Be-Or-Not-To-Be-1601";

let cli: Scratch;
let base = "";
let host = "";
/** Bot emails are at the organization's host without its port. */
const BOT_DOMAIN = "127.0.0.1";

before(async () => {
  cli = await makeScratch("latchkey-admin-cli-");
  host = `127.0.0.1:${cli.port}`;
  await createElsinore(cli, OWNER_PASSWORD);
  await cli.ok(["user", "create", "--email", "hamlet@elsinore.dk", "--full-name", "Hamlet"], `${HAMLET_PASSWORD}\n`);
  await cli.ok(["user", "create", "--email", "yorick@elsinore.dk", "--full-name", "Yorick", "--role", "guest", "--no-password"]);
  base = await cli.serve();
});

interface AuditRow {
  event_type: string;
  acting_user: string | null;
  modified_user: string | null;
  client: string | null;
  extra: Record<string, unknown>;
}

async function auditEvents(limit = 5): Promise<AuditRow[]> {
  return JSON.parse(await cli.ok(["audit", "list", "--json", "--limit", String(limit)])) as AuditRow[];
}

async function fetchKey(username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/fetch_api_key`, { method: "POST", body: new URLSearchParams({ username, password }) });
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.api_key as string;
}

describe("administration commands", () => {
  after(() => cli.close());

  test("every command answers --help with its usage and exit status 0", async () => {
    const commands = [
      ["bot"],
      ["bot", "create"],
      ["bot", "list"],
      ["bot", "regenerate-key"],
      ["bot", "zuliprc"],
      ["bot", "deactivate"],
      ["bot", "reactivate"],
      ["user", "regenerate-key"],
      ["user", "set-role"],
      ["user", "list"],
      ["realm", "show"],
      ["realm", "list"],
      ["audit", "list"],
    ];
    const listings = ["bot list", "user list", "realm list", "realm show", "audit list"];
    for (const command of commands) {
      const out = await cli.ok([...command, "--help"]);
      assert.match(out, new RegExp(`^Usage: latchkey ${command.join(" ")} `), command.join(" "));
      // Every listing offers JSON.
      if (listings.includes(command.join(" "))) assert.match(out, /--json\s+print JSON instead of text/, command.join(" "));
    }
  });

  test("bot create: the bot's key works over HTTP, and bot list shows it with its owner, in text and JSON", async () => {
    const created = await cli.ok([
      "bot",
      "create",
      "--owner",
      "hamlet@elsinore.dk",
      "--name",
      "Ghost Bot",
      "--short-name",
      "ghost",
    ]);
    const m = new RegExp(
      `^Created bot (ghost-bot@${BOT_DOMAIN.replace(/\./g, "\\.")}) \\(user id (\\d+)\\) owned by hamlet@elsinore\\.dk; its API key is ([A-Za-z0-9]{32})\\n$`,
    ).exec(created);
    assert.ok(m, created);
    const [, email, id, key] = m as unknown as [string, string, string, string];
    const me = await usersMe(base, email, key);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.is_bot, true);
    assert.equal(me.body.full_name, "Ghost Bot");

    const webhook = JSON.parse(
      await cli.ok([
        "bot",
        "create",
        "--owner",
        "claudius@elsinore.dk",
        "--name",
        "Herald",
        "--short-name",
        "herald",
        "--type",
        "outgoing-webhook",
        "--payload-url",
        "https://hooks.example.com/herald",
        "--json",
      ]),
    ) as Record<string, unknown>;
    assert.equal(webhook.email, `herald-bot@${BOT_DOMAIN}`);
    assert.equal(webhook.bot_type, "outgoing-webhook");
    assert.equal(webhook.owner, "claudius@elsinore.dk");
    assert.equal((await usersMe(base, webhook.email as string, webhook.api_key as string)).status, 200);

    const text = (await cli.ok(["bot", "list"])).trim().split("\n");
    assert.deepEqual(text, [
      `${id}\t${email}\tGhost Bot\tgeneric\towner hamlet@elsinore.dk\tactive`,
      `${webhook.user_id}\therald-bot@${BOT_DOMAIN}\tHerald\toutgoing-webhook\towner claudius@elsinore.dk\tactive`,
    ]);
    const hamlets = JSON.parse(await cli.ok(["bot", "list", "--owner", "hamlet@elsinore.dk", "--json"])) as Record<
      string,
      unknown
    >[];
    assert.equal(hamlets.length, 1);
    assert.deepEqual(
      { ...hamlets[0], date_joined: "-" },
      {
        user_id: Number(id),
        email,
        full_name: "Ghost Bot",
        role: "member",
        is_bot: true,
        is_active: true,
        date_joined: "-",
        bot_type: "generic",
        owner: "hamlet@elsinore.dk",
      },
    );

    // The same rules as the API: the name is taken, the short name is bad, the owner is a guest.
    assertOneLineError(
      await cli.run(["bot", "create", "--owner", "hamlet@elsinore.dk", "--name", "Ghost Bot", "--short-name", "ghost2"]),
      1,
      /^latchkey: Name is already in use!$/,
    );
    assertOneLineError(
      await cli.run(["bot", "create", "--owner", "hamlet@elsinore.dk", "--name", "Spirit", "--short-name", "ghost"]),
      1,
      /^latchkey: Username already in use$/,
    );
    assertOneLineError(
      await cli.run(["bot", "create", "--owner", "yorick@elsinore.dk", "--name", "Skull", "--short-name", "skull"]),
      1,
      /^latchkey: yorick@elsinore\.dk is a guest, and guests cannot own bots$/,
    );
    assertOneLineError(
      await cli.run([
        "bot",
        "create",
        "--owner",
        "hamlet@elsinore.dk",
        "--name",
        "Crier",
        "--short-name",
        "crier",
        "--type",
        "outgoing-webhook",
      ]),
      1,
      /^latchkey: an outgoing-webhook bot needs --payload-url$/,
    );
    assert.equal((JSON.parse(await cli.ok(["bot", "list", "--json"])) as unknown[]).length, 2, "nothing created by a refusal");
  });

  test("bot zuliprc prints a file zulip-js reads to reach the bot's account", async () => {
    const text = await cli.ok(["bot", "zuliprc", `ghost-bot@${BOT_DOMAIN}`]);
    assert.match(text, new RegExp(`^\\[api\\]\\nemail=ghost-bot@${BOT_DOMAIN}\\nkey=[A-Za-z0-9]{32}\\nsite=http://${host}\\n$`));
    const path = join(cli.dir, "ghost.zuliprc");
    writeFileSync(path, text);
    const client = await zulipInit({ zuliprc: path });
    const profile = await client.users.me.getProfile();
    assert.equal(profile.result, "success", JSON.stringify(profile));
    assert.equal(profile.email, `ghost-bot@${BOT_DOMAIN}`);
    assert.equal(profile.is_bot, true);

    // An outgoing-webhook bot's file has its service token.
    assert.match(await cli.ok(["bot", "zuliprc", `herald-bot@${BOT_DOMAIN}`]), /\nsite=[^\n]+\ntoken=[A-Za-z0-9]{32}\n$/);
    // A person is not a bot.
    assertOneLineError(
      await cli.run(["bot", "zuliprc", "hamlet@elsinore.dk"]),
      1,
      /^latchkey: hamlet@elsinore\.dk is not a bot$/,
    );
  });

  test("bot regenerate-key: the old key gets 401 from the running server, the new one 200, and the audit log says so", async () => {
    const email = `ghost-bot@${BOT_DOMAIN}`;
    const old = /\nkey=(\w+)\n/.exec(await cli.ok(["bot", "zuliprc", email]))?.[1] as string;
    assert.equal((await usersMe(base, email, old)).status, 200);

    const out = await cli.ok(["bot", "regenerate-key", email]);
    const key = new RegExp(
      `^New API key for ${email.replace(/\./g, "\\.")}: ([A-Za-z0-9]{32}) \\(the old key no longer works\\)\\n$`,
    ).exec(out)?.[1];
    assert.ok(key, out);
    assert.notEqual(key, old);
    assert.deepEqual(await usersMe(base, email, old), {
      status: 401,
      body: { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" },
    });
    assert.equal((await usersMe(base, email, key)).status, 200);
    const [event] = await auditEvents(1);
    assert.deepEqual(event, {
      ...(event as AuditRow),
      event_type: "USER_API_KEY_CHANGED",
      acting_user: null,
      modified_user: email,
      client: "latchkey-cli",
    });

    // --json gives the same change in a form scripts read.
    const again = JSON.parse(await cli.ok(["bot", "regenerate-key", email, "--json"])) as Record<string, unknown>;
    assert.equal(again.email, email);
    assert.equal((await usersMe(base, email, key)).status, 401);
    assert.equal((await usersMe(base, email, again.api_key as string)).status, 200);
  });

  test("bot deactivate and reactivate: the key stops working and comes back; a name in use blocks reactivation", async () => {
    const email = `ghost-bot@${BOT_DOMAIN}`;
    const key = /\nkey=(\w+)\n/.exec(await cli.ok(["bot", "zuliprc", email]))?.[1] as string;
    assert.equal(await cli.ok(["bot", "deactivate", email]), `${email} is now deactivated.\n`);
    assert.deepEqual(await usersMe(base, email, key), {
      status: 401,
      body: { result: "error", msg: "Account is deactivated", code: "UNAUTHORIZED" },
    });
    assert.match(await cli.ok(["bot", "list"]), /\tGhost Bot\tgeneric\towner hamlet@elsinore\.dk\tdeactivated\n/);
    assert.equal((await auditEvents(1))[0]?.event_type, "USER_DEACTIVATED");

    // While a person holds the bot's name, it stays deactivated (Zulip's check_bot_name_available).
    await cli.ok(["user", "create", "--email", "ghost@elsinore.dk", "--full-name", "Ghost Bot", "--no-password"]);
    assertOneLineError(
      await cli.run(["bot", "reactivate", email]),
      1,
      /^latchkey: There is already an active bot named "Ghost Bot" in this organization\. To reactivate this bot, you must rename or deactivate the other one first\.$/,
    );
    assert.equal((await usersMe(base, email, key)).status, 401);
    await cli.ok(["user", "deactivate", "ghost@elsinore.dk"]);

    assert.equal(await cli.ok(["bot", "reactivate", email]), `${email} is now active.\n`);
    assert.equal((await usersMe(base, email, key)).status, 200);
    assert.equal(await cli.ok(["bot", "reactivate", email]), `${email} is already active.\n`);
    assert.equal((await auditEvents(1))[0]?.event_type, "USER_REACTIVATED");
  });

  test("user regenerate-key: the person's old key gets 401, the new one 200, with an audit event", async () => {
    const old = await fetchKey("hamlet@elsinore.dk", HAMLET_PASSWORD);
    // A phone registered for notifications with the old key.
    const pushToken = (key: string, method: "POST" | "DELETE") =>
      fetch(`${base}/api/v1/users/me/android_gcm_reg_id`, {
        method,
        headers: { authorization: `Basic ${Buffer.from(`hamlet@elsinore.dk:${key}`).toString("base64")}` },
        body: new URLSearchParams({ token: "fcm-registration-of-hamlets-phone" }),
      });
    assert.equal((await pushToken(old, "POST")).status, 200);
    const out = await cli.ok(["user", "regenerate-key", "hamlet@elsinore.dk"]);
    const key = /^New API key for hamlet@elsinore\.dk: ([A-Za-z0-9]{32}) \(the old key no longer works\)\n$/.exec(out)?.[1];
    assert.ok(key, out);
    assert.equal((await usersMe(base, "hamlet@elsinore.dk", old)).status, 401);
    assert.equal((await usersMe(base, "hamlet@elsinore.dk", key)).status, 200);
    // The phone's registration went with the old key: it must log in again.
    const gone = await pushToken(key, "DELETE");
    assert.equal(gone.status, 400);
    assert.equal(((await gone.json()) as Record<string, unknown>).msg, "Token does not exist");
    // Logging in again hands out the new key.
    assert.equal(await fetchKey("hamlet@elsinore.dk", HAMLET_PASSWORD), key);
    const [event] = await auditEvents(1);
    assert.equal(event?.event_type, "USER_API_KEY_CHANGED");
    assert.equal(event?.modified_user, "hamlet@elsinore.dk");
    assert.equal(event?.client, "latchkey-cli");
  });

  test("user set-role: the running server reports the new role at once; the only owner stays an owner", async () => {
    const key = await fetchKey("hamlet@elsinore.dk", HAMLET_PASSWORD);
    assert.equal((await usersMe(base, "hamlet@elsinore.dk", key)).body.role, 400);

    assert.equal(
      await cli.ok(["user", "set-role", "hamlet@elsinore.dk", "administrator"]),
      "hamlet@elsinore.dk is now administrator (was member).\n",
    );
    const me = await usersMe(base, "hamlet@elsinore.dk", key);
    assert.equal(me.body.role, 200);
    assert.equal(me.body.is_admin, true);
    const [event] = await auditEvents(1);
    assert.equal(event?.event_type, "USER_ROLE_CHANGED");
    assert.deepEqual(event?.extra, { old_value: 400, new_value: 200 });
    assert.equal(
      await cli.ok(["user", "set-role", "hamlet@elsinore.dk", "administrator"]),
      "hamlet@elsinore.dk is already administrator.\n",
    );

    assertOneLineError(
      await cli.run(["user", "set-role", "claudius@elsinore.dk", "member"]),
      1,
      /^latchkey: The owner permission cannot be removed from the only organization owner\.$/,
    );
    // With a second owner, the first may step down.
    await cli.ok(["user", "set-role", "hamlet@elsinore.dk", "owner"]);
    await cli.ok(["user", "set-role", "claudius@elsinore.dk", "member"]);
    assert.equal((await usersMe(base, "hamlet@elsinore.dk", key)).body.is_owner, true);
    assertOneLineError(
      await cli.run(["user", "set-role", "hamlet@elsinore.dk", "king"]),
      1,
      /^latchkey: unknown role "king": use one of owner, administrator, moderator, member, guest$/,
    );
    assert.equal((await usersMe(base, "hamlet@elsinore.dk", key)).body.role, 100, "a refused change changes nothing");
  });

  test("realm show, realm list, user list and audit list print JSON that parses", async () => {
    const shown = JSON.parse(await cli.ok(["realm", "show", "", "--json"])) as Record<string, unknown>;
    assert.deepEqual(
      { ...shown, id: 0, date_created: "-" },
      {
        id: 0,
        subdomain: "",
        name: "Elsinore",
        description: "",
        url: `http://${host}`,
        deactivated: false,
        date_created: "-",
        login_methods: { email: true, ldap: false, dev: true, oidc: true },
        ldap_auto_create: false,
        oidc_auto_create: false,
        people: { active: 3, deactivated: 1 },
        active_people_by_role: { owner: 1, administrator: 0, moderator: 0, member: 1, guest: 1 },
        bots: { active: 2, deactivated: 0 },
        owners: ["hamlet@elsinore.dk"],
      },
    );
    const text = await cli.ok(["realm", "show", ""]);
    assert.match(text, /^Subdomain: ""\nName: Elsinore\n/);
    assert.match(
      text,
      /\nPeople: 3 active \(1 owner, 1 member, 1 guest\), 1 deactivated\nBots: 2 active, 0 deactivated\nOwners: hamlet@elsinore\.dk\n$/,
    );

    const realms = JSON.parse(await cli.ok(["realm", "list", "--json"])) as Record<string, unknown>[];
    assert.deepEqual(
      realms.map((r) => [r.subdomain, r.name, r.url]),
      [["", "Elsinore", `http://${host}`]],
    );
    const users = JSON.parse(await cli.ok(["user", "list", "--json"])) as Record<string, unknown>[];
    assert.deepEqual(
      users.map((u) => [u.email, u.role, u.is_bot, u.is_active]),
      [
        ["claudius@elsinore.dk", "member", false, true],
        ["hamlet@elsinore.dk", "owner", false, true],
        ["yorick@elsinore.dk", "guest", false, true],
        [`ghost-bot@${BOT_DOMAIN}`, "member", true, true],
        [`herald-bot@${BOT_DOMAIN}`, "member", true, true],
        ["ghost@elsinore.dk", "member", false, false],
      ],
    );
    const events = await auditEvents(100);
    assert.ok(events.length >= 8);
    assert.ok(events.every((e) => typeof e.event_type === "string" && e.client === "latchkey-cli"));
  });

  test("exit status 1 with one line for what cannot be done, 2 with one line for bad usage; neither changes anything", async () => {
    assertOneLineError(await cli.run(["realm", "show", "denmark"]), 1, /^latchkey: no organization at subdomain "denmark"$/);
    assertOneLineError(
      await cli.run(["bot", "list", "--realm", "denmark"]),
      1,
      /^latchkey: no organization at subdomain "denmark"$/,
    );
    assertOneLineError(
      await cli.run(["user", "regenerate-key", "laertes@elsinore.dk"]),
      1,
      /^latchkey: no account laertes@elsinore\.dk in this organization$/,
    );
    assertOneLineError(
      await cli.run(["bot", "regenerate-key", "hamlet@elsinore.dk"]),
      1,
      /^latchkey: hamlet@elsinore\.dk is not a bot$/,
    );

    assertOneLineError(
      await cli.run(["bot", "create", "--owner", "ghost@elsinore.dk", "--name", "Echo", "--short-name", "echo"]),
      1,
      /^latchkey: ghost@elsinore\.dk is deactivated$/,
    );
    assertOneLineError(
      await cli.run(["bot", "create", "--owner", `ghost-bot@${BOT_DOMAIN}`, "--name", "Echo", "--short-name", "echo"]),
      1,
      /^latchkey: ghost-bot@127\.0\.0\.1 is a bot, and bots cannot own bots$/,
    );

    assertOneLineError(await cli.run(["bot", "regenerate-key"]), 2, /^error: missing required argument 'email' \(see --help\)$/);
    assertOneLineError(await cli.run(["bot", "list", "--colour"]), 2, /^error: unknown option '--colour' \(see --help\)$/);
    assertOneLineError(
      await cli.run(["bot", "lsit"]),
      2,
      /^error: unknown command 'lsit' \(Did you mean list\?\) \(see --help\)$/,
    );
    assertOneLineError(
      await cli.run([
        "bot",
        "create",
        "--owner",
        "hamlet@elsinore.dk",
        "--name",
        "X Bot",
        "--short-name",
        "x",
        "--type",
        "embedded",
      ]),
      2,
      /^error: option '--type <type>' argument 'embedded' is invalid\. Allowed choices are generic, incoming-webhook, outgoing-webhook\. \(see --help\)$/,
    );
    assertOneLineError(
      await cli.run(["bot", "create", "--name", "X Bot", "--short-name", "x"]),
      2,
      /^error: required option '--owner <email>' not specified \(see --help\)$/,
    );
    // A group named without a command prints its help on stderr, as a usage error.
    const bare = await cli.run(["bot"]);
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(bare.stderr, /^Usage: latchkey bot /);
    assert.equal((JSON.parse(await cli.ok(["bot", "list", "--json"])) as unknown[]).length, 2);
  });
});
