/**
 * A benchmark server in its own process, so the load generator and the server do not share an
 * event loop. Prints one JSON line with its port (and credentials) once it listens.
 *
 *   node --import tsx bench/serve.ts latchkey [--users N] [--env KEY=VALUE ...]
 *   node --import tsx bench/serve.ts bare <bodyBytes>
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createContext } from "../src/context.js";
import { createAccount, createRealm } from "../src/domain/accounts.js";
import { ROLE } from "../src/domain/model.js";
import { generateSecrets } from "../src/secrets.js";
import { syncKeyCache } from "../src/store/cache-sync.js";
import { openDatabase } from "../src/store/database.js";

const PASSWORD = "bench-Passw0rd!";

async function serveLatchkey(env: Record<string, string>, extraUsers: number): Promise<void> {
  const dbPath = join(tmpdir(), `latchkey-bench-${process.pid}.sqlite`);
  const config = loadConfig("production", {
    LATCHKEY_EXTERNAL_HOST: "127.0.0.1",
    LATCHKEY_EXTERNAL_SCHEME: "http",
    // One load generator plays many clients from one address: the per-address login limit
    // would refuse the login benchmarks. The per-user limit keeps Zulip's default; the key-use
    // benchmarks spread their load over enough accounts to stay under it.
    LATCHKEY_RATE_LIMIT_IP: "1:1000000",
    // The benchmarks measure logins and key checks, not mail: no new-login email per login.
    LATCHKEY_SEND_LOGIN_EMAILS: "false",
    ...env,
  });
  const database = await openDatabase(dbPath);
  const ctx = createContext({ config, database, secrets: generateSecrets() });
  const app = await buildApp({ config, ctx });
  const realm = await createRealm(ctx, { subdomain: "", name: "Bench" });
  const { user, apiKey } = await createAccount(ctx, {
    realmId: realm.id,
    email: "iago@zulip.com",
    fullName: "Iago",
    role: ROLE.administrator,
    password: PASSWORD,
  });
  // Accounts without passwords, for load spread over many keys.
  const accounts: [string, string][] = [];
  await ctx.stores.transaction(async (stores) => {
    const tx = { ...ctx, stores };
    for (let i = 0; i < extraUsers; i++) {
      const created = await createAccount(tx, {
        realmId: realm.id,
        email: `user${i}@bench.test`,
        fullName: `User ${i}`,
        password: null,
      });
      accounts.push([created.user.deliveryEmail, created.apiKey]);
    }
  });
  // As `latchkey serve` runs: the key cache follows changes other processes commit.
  const sync = await syncKeyCache(database, ctx.keyCache, ctx.log);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port, email: user.deliveryEmail, apiKey, password: PASSWORD, accounts })}\n`);
  const stop = async () => {
    await app.close();
    await ctx.keyUse?.flush();
    process.stdout.write(
      `${JSON.stringify({ keyUseWrites: ctx.keyUse?.writes ?? 0, keyUseStatements: ctx.keyUse?.statements ?? 0 })}\n`,
    );
    await sync.close();
    await database.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
}

async function serveBare(bodyBytes: number): Promise<void> {
  const app = Fastify({ logger: false });
  const filler = "x".repeat(Math.max(0, bodyBytes - JSON.stringify({ result: "success", msg: "", pad: "" }).length - 1));
  const body = { result: "success", msg: "", pad: filler };
  app.get("/api/v1/users/me", async () => body);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
}

const [kind, ...rest] = process.argv.slice(2);
if (kind === "bare") {
  await serveBare(Number(rest[0]));
} else {
  const env: Record<string, string> = {};
  let users = 0;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--env") {
      const [k, ...v] = (rest[++i] ?? "").split("=");
      if (k) env[k] = v.join("=");
    } else if (rest[i] === "--users") {
      users = Number(rest[++i]);
    }
  }
  await serveLatchkey(env, users);
}
