/**
 * The import as its users see it, on one database: `latchkey import zulip-export` on the fixture,
 * then a live `latchkey serve` on the same database where people log in with the passwords they
 * had on Zulip and bots use the keys they had; a second run that changes nothing; and a failure
 * midway through the accounts that leaves every row as it was.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  call,
  envFor,
  FIRST_IMPORT_SUMMARY,
  FIXTURE,
  fixtureUser,
  latchkey,
  NOTHING_TO_IMPORT,
  PASSWORDS,
  readFixture,
  serve,
  snapshot,
  writeExport,
} from "./zulip-export-helper.js";

const SUB = "elsinore";

export function importSuite(label: string, database: () => Promise<{ url: string; drop(): Promise<void> }>): void {
  describe(`import zulip-export on ${label}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-import-"));
    let url = "";
    let drop: () => Promise<void> = async () => {};
    let env: Record<string, string> = {};
    let server: { base: string; stop(): Promise<void> } | null = null;

    before(async () => {
      ({ url, drop } = await database());
      env = envFor(dir, url);
    });

    after(async () => {
      await server?.stop();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    const base = () => {
      assert.ok(server, "the server is started by an earlier test");
      return server.base;
    };
    const key = (email: string) => fixtureUser(email).api_key as string;

    test("imports the organization, its people with their roles and active flags, and its bots; a summary and no progress bar off a terminal", async () => {
      const run = await latchkey(env, ["import", "zulip-export", FIXTURE]);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      assert.equal(run.stdout, FIRST_IMPORT_SUMMARY);
      // The kept keys and service tokens are sealed like every key: no row holds one in plaintext.
      const stored = JSON.stringify(await snapshot(url));
      const exported = readFixture();
      for (const row of exported.zerver_userprofile) {
        if (typeof row.api_key === "string") assert.equal(stored.includes(row.api_key), false, `${row.delivery_email}'s key`);
      }
      for (const service of exported.zerver_service ?? []) assert.equal(stored.includes(service.token), false, "service token");
      const list = await latchkey(env, ["user", "list", "--realm", SUB]);
      const rows = list.stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t").slice(1).join(" | "));
      assert.deepEqual(rows, [
        "claudius@elsinore.dk | Claudius | owner | active",
        "polonius@elsinore.dk | Polonius | administrator | active",
        "horatio@elsinore.dk | Horatio | moderator | active",
        "ophelia@elsinore.dk | Ophelia | member | active",
        "rosencrantz@elsinore.dk | Rosencrantz | guest | active",
        "yorick@elsinore.dk | Yorick | member | deactivated",
        "ghost-bot@elsinore.dk | Ghost | member (bot) | active",
        "watch-bot@elsinore.dk | Night Watch | member (bot) | active",
        "player-bot@elsinore.dk | The Players | member (bot) | active",
      ]);
    });

    test("people log in with the passwords they had (argon2 and PBKDF2) and get the keys they had, with their roles", async () => {
      server = await serve(env);
      const roles: Record<string, [number, boolean, boolean]> = {
        "claudius@elsinore.dk": [100, true, false],
        "polonius@elsinore.dk": [200, false, false],
        "ophelia@elsinore.dk": [400, false, false],
        "rosencrantz@elsinore.dk": [600, false, true],
      };
      for (const [email, [role, isOwner, isGuest]] of Object.entries(roles)) {
        const login = await call(base(), SUB, "POST", "/api/v1/fetch_api_key", {
          form: { username: email, password: PASSWORDS[email as keyof typeof PASSWORDS] },
        });
        assert.equal(login.status, 200, `${email}: ${JSON.stringify(login.body)}`);
        assert.equal(login.body.email, email);
        const apiKey = login.body.api_key as string;
        const exported = fixtureUser(email).api_key;
        // Rosencrantz's row had no key: a new one was made for him.
        if (exported === null) assert.match(apiKey, /^[A-Za-z0-9]{32}$/);
        else assert.equal(apiKey, exported);
        const me = await call(base(), SUB, "GET", "/api/v1/users/me", { basic: [email, apiKey] });
        assert.equal(me.status, 200);
        assert.equal(me.body.role, role, email);
        assert.equal(me.body.is_owner, isOwner, email);
        assert.equal(me.body.is_admin, role <= 200, email);
        assert.equal(me.body.is_guest, isGuest, email);
      }
      const wrong = await call(base(), SUB, "POST", "/api/v1/fetch_api_key", {
        form: { username: "claudius@elsinore.dk", password: PASSWORDS["polonius@elsinore.dk"] },
      });
      assert.equal(wrong.body.code, "AUTHENTICATION_FAILED");
    });

    test("the deactivated account gets USER_DEACTIVATED; the account without a usable password cannot log in but keeps its key", async () => {
      const yorick = await call(base(), SUB, "POST", "/api/v1/fetch_api_key", {
        form: { username: "yorick@elsinore.dk", password: PASSWORDS["yorick@elsinore.dk"] },
      });
      assert.equal(yorick.status, 401);
      assert.equal(yorick.body.code, "USER_DEACTIVATED");
      const horatio = await call(base(), SUB, "POST", "/api/v1/fetch_api_key", {
        form: { username: "horatio@elsinore.dk", password: "Horatio-Philosophy-1600" },
      });
      assert.equal(horatio.body.code, "AUTHENTICATION_FAILED");
      const me = await call(base(), SUB, "GET", "/api/v1/users/me", {
        basic: ["horatio@elsinore.dk", key("horatio@elsinore.dk")],
      });
      assert.equal(me.status, 200);
      assert.equal(me.body.role, 300);
    });

    test("bots keep working with their old keys and belong to their owners", async () => {
      const ghost = await call(base(), SUB, "GET", "/api/v1/users/me", {
        basic: ["ghost-bot@elsinore.dk", key("ghost-bot@elsinore.dk")],
      });
      assert.equal(ghost.status, 200, JSON.stringify(ghost.body));
      assert.equal(ghost.body.is_bot, true);
      assert.equal(ghost.body.full_name, "Ghost");
      const ophelias = await call(base(), SUB, "GET", "/api/v1/bots", {
        basic: ["ophelia@elsinore.dk", key("ophelia@elsinore.dk")],
      });
      assert.deepEqual(
        (ophelias.body.bots as { username: string; api_key: string }[]).map((b) => [b.username, b.api_key]),
        [["ghost-bot@elsinore.dk", key("ghost-bot@elsinore.dk")]],
      );
      // The webhook bot's row had no key: it got a new one, which its owner sees and which is its key.
      const claudius = await call(base(), SUB, "GET", "/api/v1/bots", {
        basic: ["claudius@elsinore.dk", key("claudius@elsinore.dk")],
      });
      const bots = claudius.body.bots as { username: string; api_key: string }[];
      assert.deepEqual(
        bots.map((b) => b.username),
        ["watch-bot@elsinore.dk"],
      );
      const watch = await call(base(), SUB, "GET", "/api/v1/users/me", {
        basic: ["watch-bot@elsinore.dk", bots[0]?.api_key ?? ""],
      });
      // A known key of an incoming-webhook bot: Zulip keeps such bots to webhook endpoints (an
      // unknown key would get "Invalid API key" instead).
      assert.equal(watch.body.msg, "This API is not available to incoming webhook bots.");
      const stranger = await call(base(), SUB, "GET", "/api/v1/users/me", {
        basic: ["watch-bot@elsinore.dk", "A".repeat(32)],
      });
      assert.equal(stranger.body.msg, "Invalid API key");
      // The outgoing-webhook bot keeps its key and its service's token, which its zuliprc carries.
      const players = await call(base(), SUB, "GET", "/api/v1/bots", {
        basic: ["polonius@elsinore.dk", key("polonius@elsinore.dk")],
      });
      assert.deepEqual(
        (players.body.bots as { username: string; api_key: string; default_all_public_streams: boolean }[]).map((b) => [
          b.username,
          b.api_key,
          b.default_all_public_streams,
        ]),
        [["player-bot@elsinore.dk", key("player-bot@elsinore.dk"), true]],
      );
      const rc = await latchkey(env, ["zuliprc", "player-bot@elsinore.dk", "--realm", SUB]);
      assert.equal(rc.code, 0, rc.stderr);
      assert.match(rc.stdout, new RegExp(`^token=${readFixture().zerver_service?.[0]?.token}$`, "m"));
      assert.match(rc.stdout, new RegExp(`^key=${key("player-bot@elsinore.dk")}$`, "m"));
    });

    test("a second run changes nothing and says so", async () => {
      const before = await snapshot(url);
      const run = await latchkey(env, ["import", "zulip-export", FIXTURE]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, NOTHING_TO_IMPORT);
      assert.equal(run.stderr, "");
      assert.deepEqual(await snapshot(url), before);
    });

    test("an account that fails midway leaves the database exactly as it was", async () => {
      // Into a new organization, the first three accounts (with keys of their own) go in, then the
      // fourth brings a key another account of this server already has.
      const broken = writeExport(join(dir, "midway"), (data) => {
        for (const row of data.zerver_userprofile.slice(0, 3)) row.api_key = null;
      });
      const before = await snapshot(url);
      const run = await latchkey(env, ["import", "zulip-export", broken, "--realm", "second"]);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        "latchkey: realm.json: zerver_userprofile[3].api_key: already the API key of another account on this server\n",
      );
      assert.equal(run.stdout, "");
      assert.deepEqual(await snapshot(url), before);
      const realms = await latchkey(env, ["realm", "list"]);
      assert.doesNotMatch(realms.stdout, /second/);
    });
  });
}
