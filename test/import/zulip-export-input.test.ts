/**
 * What `latchkey import zulip-export` makes of what it is given: the `.tar.gz` archive Zulip's
 * exporter writes (and a `.tgz`), archives that try to write outside their directory or hand over
 * a link for `realm.json`, malformed exports (one line naming the file and field, exit code 1,
 * the database unchanged), a stock Zulip export without passwords or keys, and the progress bar
 * on a real terminal.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, describe, test } from "node:test";
import { create } from "tar";
import { openDatabase } from "../../src/store/database.js";
import {
  BIN,
  type ExportData,
  envFor,
  FIRST_IMPORT_SUMMARY,
  FIXTURE,
  latchkey,
  NOTHING_TO_IMPORT,
  snapshot,
  writeExport,
} from "./zulip-export-helper.js";

describe("import zulip-export input", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-import-input-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A fresh database and the environment to reach it. */
  const fresh = (name: string) => {
    const home = join(dir, name);
    mkdirSync(home);
    const url = join(home, "latchkey.sqlite");
    return { url, env: envFor(home, url) };
  };

  /** Packs `source` as Zulip does: one top-level directory named like the archive. */
  async function tarball(source: string, file: string): Promise<string> {
    const top = basename(file).replace(/\.(tar\.gz|tgz)$/, "");
    const staging = mkdtempSync(join(dir, "staging-"));
    cpSync(source, join(staging, top), { recursive: true, verbatimSymlinks: true });
    await create({ gzip: true, file, cwd: staging }, [top]);
    return file;
  }

  test("a .tar.gz archive as ./manage.py export writes it imports like its directory, and a second run changes nothing", async () => {
    const { env } = fresh("tarball");
    const archive = await tarball(FIXTURE, join(dir, "zulip-export-zcmpxfm6.tar.gz"));
    const first = await latchkey(env, ["import", "zulip-export", archive]);
    assert.equal(first.stderr, "");
    assert.equal(first.stdout, FIRST_IMPORT_SUMMARY);
    const again = await latchkey(env, ["import", "zulip-export", archive]);
    assert.equal(again.stdout, NOTHING_TO_IMPORT);
    // The directory it unpacks to is the same export: nothing to import either.
    const fromDir = await latchkey(env, ["import", "zulip-export", FIXTURE]);
    assert.equal(fromDir.stdout, NOTHING_TO_IMPORT);
  });

  test("a .tgz archive into another subdomain with --realm", async () => {
    const { env } = fresh("tgz");
    const archive = await tarball(FIXTURE, join(dir, "zulip-export-q8w2.tgz"));
    const run = await latchkey(env, ["import", "zulip-export", archive, "--realm", "denmark"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Organization "Elsinore" \(subdomain "denmark"\): created\.\n/);
    const users = await latchkey(env, ["user", "list", "--realm", "denmark"]);
    assert.equal(users.stdout.trim().split("\n").length, 9);
  });

  test("an archive with an entry that would land outside its directory is refused, and nothing is written there", async () => {
    const { url, env } = fresh("escape");
    const staging = mkdtempSync(join(dir, "evil-"));
    mkdirSync(join(staging, "inner", "zulip-export-evil"), { recursive: true });
    cpSync(join(FIXTURE, "realm.json"), join(staging, "inner", "zulip-export-evil", "realm.json"));
    const probe = `latchkey-escape-probe-${process.pid}.json`;
    writeFileSync(join(staging, probe), "{}");
    const archive = join(dir, "zulip-export-evil.tar.gz");
    await create({ gzip: true, file: archive, cwd: join(staging, "inner"), preservePaths: true }, [
      "zulip-export-evil/realm.json",
      `../${probe}`,
    ]);
    const before = await snapshot(url);
    const run = await latchkey(env, ["import", "zulip-export", archive]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `latchkey: zulip-export-evil.tar.gz: refused: entry "../${probe}" would be written outside the directory it is unpacked into\n`,
    );
    assert.equal(existsSync(join(tmpdir(), probe)), false);
    assert.deepEqual(await snapshot(url), before);
  });

  test("an archive whose realm.json is a link is refused", async () => {
    const { env } = fresh("symlink");
    const source = mkdtempSync(join(dir, "linked-"));
    symlinkSync(join(FIXTURE, "realm.json"), join(source, "realm.json"));
    const archive = await tarball(source, join(dir, "zulip-export-link.tar.gz"));
    const run = await latchkey(env, ["import", "zulip-export", archive]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, "latchkey: zulip-export-link.tar.gz: zulip-export-link/realm.json is a SymbolicLink, not a file\n");
  });

  test("paths that are not an export are named in one line", async () => {
    const { env } = fresh("paths");
    const notExport = mkdtempSync(join(dir, "empty-"));
    const plain = join(dir, "notes.txt");
    writeFileSync(plain, "hello");
    const broken = join(dir, "zulip-export-broken.tar.gz");
    writeFileSync(broken, "not gzip at all");
    const cases: [string, RegExp][] = [
      [join(dir, "missing"), /^latchkey: .*missing: no such file or directory\n$/],
      [notExport, /^latchkey: .*empty-\w+: no realm\.json in this directory\n$/],
      [plain, /^latchkey: .*notes\.txt: not a directory or a \.tar\.gz\/\.tgz archive\n$/],
      [broken, /^latchkey: zulip-export-broken\.tar\.gz: not a readable \.tar\.gz archive \(.+\)\n$/],
    ];
    for (const [path, message] of cases) {
      const run = await latchkey(env, ["import", "zulip-export", path]);
      assert.equal(run.code, 1, path);
      assert.match(run.stderr, message);
    }
  });

  test("malformed exports get one line naming the file and field, exit code 1, and change nothing", async () => {
    const { url, env } = fresh("malformed");
    assert.equal((await latchkey(env, ["import", "zulip-export", FIXTURE])).code, 0);
    const before = await snapshot(url);
    const cases: [string, (data: ExportData) => void, string][] = [
      [
        "missing email",
        (d) => {
          delete d.zerver_userprofile[3]?.email;
        },
        "realm.json: zerver_userprofile[3].email: missing",
      ],
      [
        "unknown role",
        (d) => {
          (d.zerver_userprofile[1] as Record<string, unknown>).role = 500;
        },
        "realm.json: zerver_userprofile[1].role: must be one of 100, 200, 300, 400, 600 (got 500)",
      ],
      [
        "flag of the wrong type",
        (d) => {
          (d.zerver_userprofile[2] as Record<string, unknown>).is_active = "yes";
        },
        "realm.json: zerver_userprofile[2].is_active: must be true or false, not a string",
      ],
      [
        "owner not in the export",
        (d) => {
          (d.zerver_userprofile[6] as Record<string, unknown>).bot_owner = 99;
        },
        "realm.json: zerver_userprofile[6].bot_owner: no account with id 99 in zerver_userprofile",
      ],
      [
        "bot without a type",
        (d) => {
          (d.zerver_userprofile[7] as Record<string, unknown>).bot_type = null;
        },
        "realm.json: zerver_userprofile[7].bot_type: a bot needs a bot type",
      ],
      [
        "malformed key",
        (d) => {
          (d.zerver_userprofile[0] as Record<string, unknown>).api_key = "short";
        },
        "realm.json: zerver_userprofile[0].api_key: must be 32 letters and digits",
      ],
      [
        "not an email",
        (d) => {
          (d.zerver_userprofile[4] as Record<string, unknown>).delivery_email = "rosencrantz";
        },
        'realm.json: zerver_userprofile[4].delivery_email: not an email address: "rosencrantz"',
      ],
      [
        "same email twice",
        (d) => {
          (d.zerver_userprofile[5] as Record<string, unknown>).delivery_email = "Ophelia@elsinore.dk";
        },
        "realm.json: zerver_userprofile[5].delivery_email: Ophelia@elsinore.dk appears twice",
      ],
      [
        "service of a bot that is not an outgoing-webhook bot",
        (d) => {
          (d.zerver_service?.[0] as Record<string, unknown>).user_profile = 14;
        },
        "realm.json: zerver_service[0].user_profile: ghost-bot@elsinore.dk is not an outgoing-webhook bot",
      ],
      [
        "no organization",
        (d) => {
          delete (d as Record<string, unknown>).zerver_realm;
        },
        "realm.json: zerver_realm: missing",
      ],
      [
        "organization without a name",
        (d) => {
          delete d.zerver_realm[0]?.name;
        },
        "realm.json: zerver_realm[0].name: missing",
      ],
      [
        "accounts not a list",
        (d) => {
          (d as Record<string, unknown>).zerver_userprofile = {};
        },
        "realm.json: zerver_userprofile: must be a list, not an object",
      ],
    ];
    for (const [name, edit, message] of cases) {
      const broken = writeExport(join(dir, `malformed-${name.replaceAll(" ", "-")}`), edit);
      // Into a new subdomain, so that nothing is skipped as already present.
      const run = await latchkey(env, ["import", "zulip-export", broken, "--realm", "fresh"]);
      assert.equal(run.code, 1, name);
      assert.equal(run.stderr, `latchkey: ${message}\n`, name);
      assert.equal(run.stdout, "", name);
    }
    const notJson = writeExport(join(dir, "malformed-json"), () => {});
    writeFileSync(join(notJson, "realm.json"), '{"zerver_realm": [');
    const run = await latchkey(env, ["import", "zulip-export", notJson]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^latchkey: realm\.json: not valid JSON \(.+\)\n$/);
    assert.deepEqual(await snapshot(url), before);
  });

  test("a stock Zulip export (no password, api_key or uuid, as Zulip's exporter writes it) gives unusable passwords and new keys", async () => {
    const { env } = fresh("stock");
    const stock = writeExport(join(dir, "stock"), (d) => {
      for (const row of d.zerver_userprofile) {
        delete row.password;
        delete row.api_key;
        delete row.uuid;
      }
    });
    const run = await latchkey(env, ["import", "zulip-export", stock]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Passwords: 0 kept, 6 without a usable password \(they need a password reset\)\.$/m);
    assert.match(run.stdout, /^API keys: 0 kept, 9 new \(the export had none for those accounts\)\.$/m);
    const rc = await latchkey(env, ["zuliprc", "ghost-bot@elsinore.dk", "--realm", "elsinore"]);
    assert.equal(rc.code, 0, rc.stderr);
    assert.match(rc.stdout, /^key=[A-Za-z0-9]{32}$/m);
  });

  test("into an organization that exists, only the accounts it lacks are added; an exported deactivated organization arrives deactivated", async () => {
    const { url, env } = fresh("existing");
    const made = await latchkey(env, [
      "realm",
      "create",
      "--subdomain",
      "elsinore",
      "--name",
      "Elsinore Castle",
      "--owner-email",
      "Claudius@elsinore.dk",
      "--owner-name",
      "King Claudius",
      "--no-password",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const run = await latchkey(env, ["import", "zulip-export", FIXTURE]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Organization "Elsinore Castle" \(subdomain "elsinore"\): already present\.$/m);
    assert.match(run.stdout, /^Users: 5 imported, 1 already present \(skipped\)\.$/m);
    const users = await latchkey(env, ["user", "list", "--realm", "elsinore"]);
    // The account that was here keeps its name; the bot Claudius owned on Zulip is his here.
    assert.match(users.stdout, /^(\d+)\tClaudius@elsinore\.dk\tKing Claudius\towner\tactive$/m);
    assert.equal(users.stdout.trim().split("\n").length, 9);
    const claudiusId = Number(/^(\d+)\tClaudius@/m.exec(users.stdout)?.[1]);
    const handle = await openDatabase(url);
    try {
      const bot = await handle.db
        .selectFrom("users")
        .select("bot_owner_id")
        .where("delivery_email", "=", "watch-bot@elsinore.dk")
        .executeTakeFirstOrThrow();
      assert.equal(bot.bot_owner_id, claudiusId);
    } finally {
      await handle.close();
    }

    const closed = fresh("deactivated");
    const export_ = writeExport(join(dir, "deactivated"), (d) => {
      (d.zerver_realm[0] as Record<string, unknown>).deactivated = true;
    });
    assert.equal((await latchkey(closed.env, ["import", "zulip-export", export_])).code, 0);
    const realms = await latchkey(closed.env, ["realm", "list"]);
    assert.match(realms.stdout, /^"elsinore"\tElsinore\t.*\tdeactivated\t/m);
  });

  test("on a terminal a progress bar counts the accounts on stderr", () => {
    const { env } = fresh("terminal");
    // util-linux's script(1) runs the command on a real pseudo-terminal.
    const command = `${process.execPath} ${BIN} import zulip-export ${FIXTURE}`;
    const run = spawnSync("script", ["-qec", command, "/dev/null"], { env: { ...env, COLUMNS: "80" }, encoding: "utf8" });
    assert.equal(run.status, 0, run.stdout);
    assert.match(run.stdout, /\rImporting accounts \[#+\.*\] 1\/9/);
    assert.match(run.stdout, /\rImporting accounts \[#+\] 9\/9\r?\n/);
    assert.match(run.stdout, /Users: 6 imported/);
  });
});
