/**
 * zuliprc files (docs/zulip-rules.md §9) as `latchkey zuliprc` prints them, read back by zulip-js to call the
 * server over a real port; and `latchkey audit list`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import zulipInit from "zulip-js";
import { buildApp } from "../../src/app.js";
import { main } from "../../src/cli/main.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import { createBot } from "../../src/domain/bots.js";
import { BOT_TYPE, ROLE } from "../../src/domain/model.js";
import { renderZuliprc, zuliprcFor } from "../../src/domain/zuliprc.js";
import { loadOrCreateSecrets } from "../../src/secrets.js";
import { syncKeyCache } from "../../src/store/cache-sync.js";
import { openDatabase } from "../../src/store/database.js";
import { freePort, testConfig } from "../helper.js";

/** Runs the CLI in this process and returns what it printed. */
async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    const code = await main(["node", "latchkey", ...args]);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("zuliprc from the CLI works with zulip-js against a real port, for people and bots", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-zuliprc-"));
  const port = await freePort();
  const env = {
    LATCHKEY_DATABASE_URL: join(dir, "db.sqlite"),
    LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
    LATCHKEY_EXTERNAL_HOST: `127.0.0.1:${port}`,
    LATCHKEY_EXTERNAL_SCHEME: "http",
    LATCHKEY_ARGON2_MEMORY_KIB: "19456",
  };
  Object.assign(process.env, env);
  const config = testConfig("production", env);
  const database = await openDatabase(env.LATCHKEY_DATABASE_URL);
  const ctx = createContext({ config, database, secrets: loadOrCreateSecrets(env.LATCHKEY_SECRETS_FILE) });
  const app = await buildApp({ config, ctx });
  // As `latchkey serve` does: changes the CLI commits reach this server's key cache.
  const sync = await syncKeyCache(database, ctx.keyCache, ctx.log);
  await app.listen({ port, host: "127.0.0.1" });
  t.after(async () => {
    await sync.close();
    await app.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const realm = await createRealm(ctx, { subdomain: "", name: "Zuliprc" });
  const { user: ann, apiKey } = await createAccount(ctx, {
    realmId: realm.id,
    email: "ann@example.com",
    fullName: "Ann",
    role: ROLE.administrator,
    password: null,
  });
  const source = { ip: "192.0.2.1", client: "test" };
  const hook = await createBot(
    ctx,
    ann,
    {
      fullName: "Hook",
      shortName: "hook",
      botType: BOT_TYPE.outgoingWebhook,
      payloadUrl: "https://example.com/hook",
      interfaceType: 1,
      defaultAllPublicStreams: false,
    },
    source,
  );

  const printed = await runCli(["zuliprc", "ann@example.com", "--realm", ""]);
  assert.equal(printed.code, 0, printed.err);
  const site = `http://127.0.0.1:${port}`;
  assert.equal(`${printed.out}\n`, `[api]\nemail=ann@example.com\nkey=${apiKey}\nsite=${site}\n`);
  assert.equal(`${printed.out}\n`, await zuliprcFor(ctx, ann));

  const annFile = join(dir, "ann.zuliprc");
  writeFileSync(annFile, `${printed.out}\n`);
  const client = await zulipInit({ zuliprc: annFile });
  const profile = await client.users.me.getProfile();
  assert.equal(profile.result, "success", JSON.stringify(profile));
  assert.equal(profile.email, "ann@example.com");
  assert.equal(profile.user_id, ann.id);

  // An outgoing-webhook bot's file has the service token after the site.
  const botPrinted = await runCli(["zuliprc", "hook-bot@127.0.0.1", "--realm", ""]);
  assert.equal(botPrinted.code, 0, botPrinted.err);
  const service = await ctx.stores.botServices.find(hook.bot.id);
  const token = ctx.vault.unseal(service?.token as { digest: string; sealed: string });
  assert.equal(`${botPrinted.out}\n`, renderZuliprc({ email: "hook-bot@127.0.0.1", apiKey: hook.apiKey, site, token }));
  assert.match(botPrinted.out, new RegExp(`\\nsite=${site.replace(/\./g, "\\.")}\\ntoken=[A-Za-z0-9]{32}$`));
  const botFile = join(dir, "bot.zuliprc");
  writeFileSync(botFile, `${botPrinted.out}\n`);
  const botProfile = await (await zulipInit({ zuliprc: botFile })).users.me.getProfile();
  assert.equal(botProfile.result, "success", JSON.stringify(botProfile));
  assert.equal(botProfile.user_id, hook.bot.id);
  assert.equal(botProfile.is_bot, true);

  // After a regeneration the printed file has the new key, and the old file stops working.
  // Over the real port, as a client would.
  const regenerated = await client.callEndpoint("/users/me/api_key/regenerate", "POST", {});
  assert.equal(regenerated.result, "success", JSON.stringify(regenerated));
  const newKey = regenerated.api_key as string;
  const stale = await client.users.me.getProfile();
  assert.equal(stale.result, "error");
  assert.equal(stale.msg, "Invalid API key");
  const again = await runCli(["zuliprc", "ann@example.com"]);
  assert.match(again.out, new RegExp(`\\nkey=${newKey}\\n`));

  const missing = await runCli(["zuliprc", "nobody@example.com"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no account nobody@example\.com/);

  const audit = await runCli(["audit", "list", "--realm", "", "--limit", "1"]);
  assert.equal(audit.code, 0, audit.err);
  const lines = audit.out.split("\n");
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] as string,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z\tUSER_API_KEY_CHANGED\tby ann@example\.com\ton ann@example\.com\tip 127\.0\.0\.1\tclient (\S+)\t\{\}$/,
  );
  const all = await runCli(["audit", "list"]);
  assert.deepEqual(
    all.out.split("\n").map((line) => line.split("\t")[1]),
    ["USER_API_KEY_CHANGED", "USER_CREATED"],
  );

  // `latchkey user deactivate` takes the person's bots with it, and says so in the audit log.
  const off = await runCli(["user", "deactivate", "ann@example.com"]);
  assert.equal(off.code, 0, off.err);
  const botStale = await (await zulipInit({ zuliprc: botFile })).users.me.getProfile();
  assert.equal(botStale.msg, "Account is deactivated");
  const on = await runCli(["user", "reactivate", "ann@example.com"]);
  assert.equal(on.code, 0, on.err);
  // Reactivating the owner does not bring the bot back.
  assert.equal((await (await zulipInit({ zuliprc: botFile })).users.me.getProfile()).msg, "Account is deactivated");
  const log = await runCli(["audit", "list", "--limit", "3"]);
  assert.deepEqual(
    log.out.split("\n").map((line) => line.split("\t").slice(1, 6)),
    [
      ["USER_REACTIVATED", "by -", "on ann@example.com", "ip -", "client latchkey-cli"],
      ["USER_DEACTIVATED", "by -", "on hook-bot@127.0.0.1", "ip -", "client latchkey-cli"],
      ["USER_DEACTIVATED", "by -", "on ann@example.com", "ip -", "client latchkey-cli"],
    ],
  );
});
