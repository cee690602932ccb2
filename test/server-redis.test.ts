/**
 * The real server with LATCHKEY_REDIS_URL on PostgreSQL, over a real port: its limits count in
 * Redis, and a change made by another process (as the CLI makes it) reaches its key cache.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../src/config.js";
import { createContext } from "../src/context.js";
import { createAccount, createRealm, setAccountActive } from "../src/domain/accounts.js";
import { loadOrCreateSecrets } from "../src/secrets.js";
import { startServer } from "../src/server.js";
import { syncKeyCache } from "../src/store/cache-sync.js";
import { openDatabase } from "../src/store/database.js";
import { closeRedis, openRedis } from "../src/store/redis.js";
import { freshPostgresUrl, PASSWORD } from "./helper.js";
import { testRedis } from "./redis-helper.js";

const redis = await testRedis();
const postgres = redis === null ? null : await freshPostgresUrl();
if (redis !== null && postgres !== null) {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-"));
  describe("server-redis", () => {
    after(async () => {
      await redis.close();
      await postgres.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a server with Redis counts its limits there and hears another process's changes", async (t) => {
      const env = {
        PORT: "0",
        HOST: "127.0.0.1",
        LATCHKEY_EXTERNAL_HOST: "testserver",
        LATCHKEY_DATABASE_URL: postgres.url,
        LATCHKEY_REDIS_URL: redis.url,
        LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
        LATCHKEY_ARGON2_MEMORY_KIB: "19456",
        LATCHKEY_ARGON2_PARALLELISM: "1",
        LATCHKEY_LOG_LEVEL: "silent",
        LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
      };
      const config = loadConfig("production", env);
      const server = await startServer(config, () => {});
      t.after(() => server.close());
      const realm = await createRealm(server.ctx, { subdomain: "", name: "Zulip" });
      await createAccount(server.ctx, { realmId: realm.id, email: "iago@zulip.com", fullName: "Iago", password: PASSWORD });
      const address = server.app.server.address();
      const base = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
      const headers = { host: "testserver" };

      const login = await fetch(`${base}/api/v1/fetch_api_key`, {
        method: "POST",
        headers,
        body: new URLSearchParams({ username: "iago@zulip.com", password: PASSWORD }),
      });
      assert.equal(login.status, 200);
      const { api_key: apiKey } = (await login.json()) as { api_key: string };
      const addressKey = "latchkey:rate:api_by_ip:127.0.0.1";
      assert.equal(await redis.redis.llen(addressKey), 1);
      t.after(() => redis.redis.del(addressKey, "latchkey:rate:api_by_user:1").then(() => {}));

      const me = () =>
        fetch(`${base}/api/v1/users/me`, {
          headers: { ...headers, authorization: `Basic ${Buffer.from(`iago@zulip.com:${apiKey}`).toString("base64")}` },
        });
      const first = await me();
      assert.equal(first.status, 200);
      assert.equal(first.headers.get("x-ratelimit-remaining"), "199");
      assert.equal(await redis.redis.llen("latchkey:rate:api_by_user:1"), 1);

      // Another process on the same database and Redis, as `latchkey user deactivate` runs.
      const cliRedis = await openRedis(redis.url, { warn() {} });
      const cliDb = await openDatabase(postgres.url);
      const cli = createContext({
        config,
        database: cliDb,
        secrets: loadOrCreateSecrets(env.LATCHKEY_SECRETS_FILE),
        redis: cliRedis,
      });
      const sync = await syncKeyCache(cliDb, cli.keyCache, cli.log, cliRedis);
      t.after(async () => {
        await sync.close();
        await closeRedis(cliRedis);
        await cliDb.close();
      });
      await setAccountActive(cli, 1, false);
      let status = 0;
      for (let i = 0; i < 200 && status !== 401; i++) {
        status = (await me()).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(status, 401);
    });
  });
}
