/**
 * `latchkey login`, the real binary against `latchkey serve` on a real port: typed at a real
 * pseudo-terminal (util-linux `script`, with the terminal's own echo on, so anything the command
 * does not hide shows up), the zuliprc it writes read by zulip-js, and every refusal the server
 * can give, in the words the command prints.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import zulipInit from "zulip-js";
import { BIN } from "../cluster-helper.js";
import { freePort } from "../helper.js";
import { assertOneLineError, createElsinore, makeScratch, type Scratch } from "./cli-runner.js";

const HAMLET_PASSWORD = "To-Be-Or-Not-To-Be-1601";
const OPHELIA_PASSWORD = "Flowers-For-Laertes-17";
const LAERTES_PASSWORD = "Poisoned-Rapier-Tip-88";

let cli: Scratch;
let base = "";
let closedPort = 0;

before(async () => {
  closedPort = await freePort();
  cli = await makeScratch("latchkey-login-", {
    // A directory that is never reachable: enough for the server to offer LDAP usernames.
    LATCHKEY_LDAP_SERVER_URI: `ldap://127.0.0.1:${closedPort}`,
    LATCHKEY_LDAP_USER_SEARCH_BASE: "ou=people,dc=elsinore,dc=dk",
    LATCHKEY_LDAP_APPEND_DOMAIN: "elsinore.dk",
  });
  base = await cli.serve();
});

interface TerminalRun {
  code: number | null;
  /** Everything the terminal showed, prompts and echo included. */
  screen: string;
}

/**
 * Runs `latchkey login ...args` on a pseudo-terminal and types each answer once the screen shows
 * its prompt (after the prompt, as a person would: typing earlier would meet a terminal that
 * still echoes).
 */
function loginOnTerminal(args: string[], answers: [prompt: string, typed: string][]): Promise<TerminalRun> {
  const command = [process.execPath, BIN, "login", ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["--quiet", "--return", "--echo", "always", "--command", command, "/dev/null"], {
      env: cli.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    let next = 0;
    let seen = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      screen += chunk.toString();
      const answer = answers[next];
      if (answer === undefined) return;
      const at = screen.indexOf(answer[0], seen);
      if (at < 0) return;
      seen = at + answer[0].length;
      next += 1;
      child.stdin.write(`${answer[1]}\r`);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      child.stdin.destroy();
      resolve({ code, screen });
    });
  });
}

/** `latchkey login` with the password on stdin. */
function loginWithStdin(args: string[], password: string) {
  return cli.run(["login", "--site", base, "--password-stdin", ...args], `${password}\n`);
}

async function fetchApiKey(username: string, password: string): Promise<number> {
  const res = await fetch(`${base}/api/v1/fetch_api_key`, { method: "POST", body: new URLSearchParams({ username, password }) });
  await res.body?.cancel();
  return res.status;
}

describe("latchkey login", () => {
  after(() => cli.close());

  test("a server without an organization at that address: said so, nothing asked, nothing written", async () => {
    const output = join(cli.dir, "none.zuliprc");
    assertOneLineError(
      await loginWithStdin(["--email", "hamlet@elsinore.dk", "--output", output], HAMLET_PASSWORD),
      1,
      new RegExp(`^latchkey: there is no organization at ${base.replace(/\./g, "\\.")}$`),
    );
    // Now the organization exists.
    await createElsinore(cli, "Elsinore-Castle-Owner-42");
    for (const [email, name, password] of [
      ["hamlet@elsinore.dk", "Hamlet", HAMLET_PASSWORD],
      ["ophelia@elsinore.dk", "Ophelia", OPHELIA_PASSWORD],
      ["laertes@elsinore.dk", "Laertes", LAERTES_PASSWORD],
    ] as const) {
      await cli.ok(["user", "create", "--email", email, "--full-name", name], `${password}\n`);
    }
  });

  test("at a terminal: asks for the email and a hidden password, and writes a 0600 zuliprc that zulip-js logs in with", async () => {
    const output = join(cli.dir, "hamlet.zuliprc");
    const run = await loginOnTerminal(
      ["--site", base, "--output", output],
      [
        ["Email: ", "hamlet@elsinore.dk"],
        ["Password: ", HAMLET_PASSWORD],
      ],
    );
    assert.equal(run.code, 0, run.screen);
    assert.match(run.screen, /Logging in to Elsinore \(http:\/\/127\.0\.0\.1:\d+\)/);
    assert.match(run.screen, /Email: .*hamlet@elsinore\.dk/);
    assert.match(run.screen, /Password: /);
    assert.ok(!run.screen.includes(HAMLET_PASSWORD), `the password was echoed: ${JSON.stringify(run.screen)}`);
    assert.ok(!run.screen.includes("*"), "nor shown as stars");
    assert.match(run.screen, new RegExp(`Logged in to ${base.replace(/\./g, "\\.")} as hamlet@elsinore\\.dk; wrote ${output}`));

    assert.equal(statSync(output).mode & 0o777, 0o600);
    const text = readFileSync(output, "utf8");
    assert.match(
      text,
      new RegExp(`^\\[api\\]\\nemail=hamlet@elsinore\\.dk\\nkey=[A-Za-z0-9]{32}\\nsite=${base.replace(/\./g, "\\.")}\\n$`),
    );
    const client = await zulipInit({ zuliprc: output });
    const profile = await client.users.me.getProfile();
    assert.equal(profile.result, "success", JSON.stringify(profile));
    assert.equal(profile.email, "hamlet@elsinore.dk");
    assert.equal(profile.full_name, "Hamlet");
  });

  test("--password-stdin writes ~/.zuliprc; an existing file is kept unless --force, which leaves it 0600", async () => {
    const home = join(cli.dir, ".zuliprc");
    const first = await loginWithStdin(["--email", "ophelia@elsinore.dk"], OPHELIA_PASSWORD);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, `Logged in to ${base} as ophelia@elsinore.dk; wrote ${home}\n`);
    assert.equal(statSync(home).mode & 0o777, 0o600);

    // Someone made it readable; a second login refuses to touch it.
    chmodSync(home, 0o644);
    const before = readFileSync(home, "utf8");
    assertOneLineError(
      await loginWithStdin(["--email", "hamlet@elsinore.dk"], HAMLET_PASSWORD),
      1,
      new RegExp(`^latchkey: ${home.replace(/\./g, "\\.")} already exists; add --force to replace it$`),
    );
    assert.equal(readFileSync(home, "utf8"), before);

    // The site as people type it, without a scheme: a loopback address gets http://, and the file
    // names the organization's URL as the server reports it.
    const forced = await cli.run(
      ["login", "--site", `127.0.0.1:${cli.port}/`, "--email", "hamlet@elsinore.dk", "--password-stdin", "--force"],
      `${HAMLET_PASSWORD}\n`,
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(
      readFileSync(home, "utf8"),
      new RegExp(`\\nemail=hamlet@elsinore\\.dk\\nkey=\\w{32}\\nsite=http://127\\.0\\.0\\.1:${cli.port}\\n$`),
    );
    assert.equal(statSync(home).mode & 0o777, 0o600);
    const profile = await (await zulipInit({ zuliprc: home })).users.me.getProfile();
    assert.equal(profile.email, "hamlet@elsinore.dk");
  });

  test("each refusal of the server in plain words, with exit status 1 and nothing written", async () => {
    const output = join(cli.dir, "refused.zuliprc");
    const attempt = (email: string, password: string) => loginWithStdin(["--email", email, "--output", output], password);
    const site = base.replace(/\./g, "\\.");

    assertOneLineError(
      await attempt("hamlet@elsinore.dk", "not-his-password"),
      1,
      new RegExp(`^latchkey: wrong email or password for ${site}$`),
    );

    await cli.ok(["user", "deactivate", "ophelia@elsinore.dk"]);
    assertOneLineError(
      await attempt("ophelia@elsinore.dk", OPHELIA_PASSWORD),
      1,
      /^latchkey: the account ophelia@elsinore\.dk is deactivated; an administrator of the organization can reactivate it$/,
    );

    await cli.ok(["realm", "deactivate", ""]);
    assertOneLineError(
      await attempt("hamlet@elsinore.dk", HAMLET_PASSWORD),
      1,
      new RegExp(`^latchkey: the organization at ${site} has been deactivated$`),
    );
    await cli.ok(["realm", "reactivate", ""]);

    // Five failures an account may have in half an hour (LATCHKEY_RATE_LIMIT_AUTH's default); the sixth attempt waits.
    for (let i = 0; i < 5; i++) assert.equal(await fetchApiKey("laertes@elsinore.dk", `wrong-${i}`), 401);
    const throttled = await attempt("laertes@elsinore.dk", LAERTES_PASSWORD);
    assertOneLineError(throttled, 1, /^latchkey: too many login attempts; try again in \d+ seconds$/);
    const wait = Number(/in (\d+) seconds/.exec(throttled.stderr)?.[1]);
    assert.ok(wait > 1700 && wait <= 1800, `waits ${wait} seconds`);

    assertOneLineError(
      await cli.run(
        [
          "login",
          "--site",
          `http://127.0.0.1:${closedPort}`,
          "--email",
          "hamlet@elsinore.dk",
          "--password-stdin",
          "--output",
          output,
        ],
        "x\n",
      ),
      1,
      new RegExp(`^latchkey: cannot reach http://127\\.0\\.0\\.1:${closedPort}: nothing is listening there$`),
    );
    assertOneLineError(
      await cli.run(["login", "--site", base, "--output", output], ""),
      1,
      /^latchkey: no terminal to ask for the password on; use --password-stdin with --email$/,
    );
    assertOneLineError(
      await cli.run(["login", "--site", base, "--password-stdin", "--output", output], `${HAMLET_PASSWORD}\n`),
      1,
      /^latchkey: --password-stdin needs --email$/,
    );
    assertOneLineError(
      await cli.run(["login", "--email", "hamlet@elsinore.dk"]),
      2,
      /^error: required option '--site <url>' not specified \(see --help\)$/,
    );
    assert.throws(() => statSync(output), /ENOENT/);
  });

  test("where the organization logs in with directory usernames, the prompt asks for a username", async () => {
    await cli.ok(["realm", "login-methods", "", "--ldap", "on"]);
    try {
      const run = await loginOnTerminal(
        ["--site", base, "--output", join(cli.dir, "ldap.zuliprc")],
        [
          ["Username: ", "hamlet"],
          ["Password: ", HAMLET_PASSWORD],
        ],
      );
      assert.match(run.screen, /Username: .*hamlet/);
      assert.ok(!run.screen.includes(HAMLET_PASSWORD));
      // The directory is down: the server says it cannot check the password now.
      assert.equal(run.code, 1, run.screen);
      assert.match(
        run.screen,
        /latchkey: the server cannot check passwords right now; try again later \(LDAP login is temporarily unavailable; please try again later\.\)\r\n$/,
      );
    } finally {
      await cli.ok(["realm", "login-methods", "", "--ldap", "off"]);
    }
  });

  test("--help describes every option", async () => {
    const help = await cli.ok(["login", "--help"]);
    for (const option of ["--site <url>", "--email <email>", "--output <path>", "--force", "--password-stdin"]) {
      assert.ok(help.includes(option), option);
    }
  });
});
