/**
 * Revocation across three `latchkey serve` processes on one PostgreSQL database, under the
 * faults a real deployment meets: the key-cache listener's backend killed, the shared Redis
 * stopped and restarted, a database link that goes quiet without a reset, and a change that no
 * node hears at all (bounded by the cache's lifetime). In each case a key that was cached on
 * every node is revoked through one node (a person's key regenerated, a bot deactivated), and
 * the old key must be refused on every node within the stated window.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import { ROLE } from "../../src/domain/model.js";
import { loadOrCreateSecrets } from "../../src/secrets.js";
import { type DatabaseHandle, openDatabase } from "../../src/store/database.js";
import {
  basicAuth,
  call,
  freezableProxy,
  type NodeProcess,
  nodeEnv,
  pollUntil,
  type RedisServer,
  startNode,
  startRedisServer,
  uniqueName,
} from "../cluster-helper.js";
import { freshPostgresUrl, testConfig } from "../helper.js";

const postgres = await freshPostgresUrl();

/** Who the scenarios revoke: a person whose key is regenerated and a bot that is deactivated. */
interface Cast {
  person: { email: string; key: string };
  owner: { email: string; key: string };
  bot: { id: number; email: string; key: string };
}

const ADMIN_URL = process.env.LATCHKEY_TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

if (postgres !== null) {
  describe("revocation under faults", () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-revoke-"));
    let seeder: { ctx: Context; database: DatabaseHandle };
    let realmId = 0;
    const running: NodeProcess[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    before(async () => {
      const database = await openDatabase(postgres.url);
      const ctx = createContext({
        config: testConfig("production"),
        database,
        secrets: loadOrCreateSecrets(join(dir, "secrets.json")),
      });
      seeder = { ctx, database };
      realmId = (await createRealm(ctx, { subdomain: "", name: "Faults" })).id;
    });
    after(async () => {
      for (const node of running) await node.stop("SIGKILL");
      for (const cleanup of cleanups.reverse()) await cleanup();
      await seeder.database.close();
      await postgres.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Starts a node on `databaseUrl` with `extra` settings; it is killed when the file ends. */
    async function node(databaseUrl: string, extra: Record<string, string> = {}): Promise<NodeProcess> {
      const started = await startNode(
        nodeEnv(dir, {
          LATCHKEY_DATABASE_URL: databaseUrl,
          LATCHKEY_KEY_CACHE_TTL: "10",
          LATCHKEY_DATABASE_TIMEOUT_MS: "2000",
          ...extra,
        }),
      );
      running.push(started);
      return started;
    }

    /** A fresh person, an owner and the owner's bot (made through `via`). */
    async function cast(via: NodeProcess): Promise<Cast> {
      const tag = uniqueName("c");
      const person = await createAccount(seeder.ctx, {
        realmId,
        email: `${tag}-p@example.com`,
        fullName: `P ${tag}`,
        password: null,
      });
      const owner = await createAccount(seeder.ctx, {
        realmId,
        email: `${tag}-o@example.com`,
        fullName: `O ${tag}`,
        role: ROLE.member,
        password: null,
      });
      const made = await call(via.port, "/api/v1/bots", {
        method: "POST",
        headers: basicAuth(owner.user.deliveryEmail, owner.apiKey),
        body: new URLSearchParams({ full_name: `Bot ${tag}`, short_name: `${tag}` }).toString(),
      });
      assert.equal(made.status, 200, made.body);
      const bot = made.json() as { user_id: number; api_key: string };
      const botEmail = `${tag}-bot@testserver`;
      return {
        person: { email: person.user.deliveryEmail, key: person.apiKey },
        owner: { email: owner.user.deliveryEmail, key: owner.apiKey },
        bot: { id: bot.user_id, email: botEmail, key: bot.api_key },
      };
    }

    const usersMe = (n: NodeProcess, email: string, key: string) =>
      call(n.port, "/api/v1/users/me", { headers: basicAuth(email, key) });

    /** Asks every node twice with each key, so that every node has both cached. */
    async function warm(nodes: NodeProcess[], c: Cast): Promise<void> {
      for (const n of nodes) {
        for (const [email, key] of [
          [c.person.email, c.person.key],
          [c.bot.email, c.bot.key],
        ] as const) {
          for (let i = 0; i < 2; i++) assert.equal((await usersMe(n, email, key)).status, 200);
        }
      }
    }

    /** Regenerates the person's key and deactivates the bot, both through `via`; returns the new key. */
    async function revoke(via: NodeProcess, c: Cast): Promise<string> {
      const regenerated = await call(via.port, "/api/v1/users/me/api_key/regenerate", {
        method: "POST",
        headers: basicAuth(c.person.email, c.person.key),
      });
      assert.equal(regenerated.status, 200, regenerated.body);
      const deactivated = await call(via.port, `/api/v1/bots/${c.bot.id}`, {
        method: "DELETE",
        headers: basicAuth(c.owner.email, c.owner.key),
      });
      assert.equal(deactivated.status, 200, deactivated.body);
      return (regenerated.json() as { api_key: string }).api_key;
    }

    /**
     * Milliseconds until every node refuses both revoked keys, polling every 50 ms for at most
     * `withinMs`; fails the test with what each node still answered otherwise.
     */
    async function refusedEverywhere(nodes: NodeProcess[], c: Cast, withinMs: number): Promise<number> {
      const started = Date.now();
      const last: string[] = [];
      const done = await pollUntil(async () => {
        const answers = await Promise.all(
          nodes.flatMap((n) => [usersMe(n, c.person.email, c.person.key), usersMe(n, c.bot.email, c.bot.key)]),
        );
        last.splice(0, last.length, ...answers.map((a) => `${a.status} ${a.body.trim()}`));
        return answers.every((a) => a.status === 401);
      }, withinMs);
      assert.ok(done, `a revoked key still worked after ${withinMs} ms:\n${last.join("\n")}`);
      return Date.now() - started;
    }

    test("the listener's backend killed: revoked keys are refused on every node within 2 s", async () => {
      const tag = uniqueName("lk");
      const urlFor = (name: string) => `${postgres.url}&application_name=${tag}-${name}`;
      const [a, b, c] = [await node(urlFor("a")), await node(urlFor("b")), await node(urlFor("c"))] as [
        NodeProcess,
        NodeProcess,
        NodeProcess,
      ];
      const people = await cast(a);
      await warm([a, b, c], people);

      // B's listening connection is killed; B reconnects within about a second. The revocation
      // must happen inside that gap, while B cannot hear it: if B was already listening again,
      // the attempt proves nothing and is made again with fresh accounts.
      const admin = new pg.Client({ connectionString: ADMIN_URL });
      await admin.connect();
      const listenerName = `${tag}-b key-cache listener`;
      const listeners = async () =>
        (await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [listenerName])).rowCount;
      try {
        let deafDuringRevocation = false;
        let newKey = "";
        for (let attempt = 0; attempt < 5 && !deafDuringRevocation; attempt++) {
          const round = attempt === 0 ? people : await cast(a);
          if (attempt > 0) await warm([a, b, c], round);
          assert.ok(await pollUntil(async () => (await listeners()) === 1, 5000), "B listens");
          const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
            listenerName,
          ]);
          assert.equal(killed.rowCount, 1, "B's listener was found in pg_stat_activity by its application_name");
          // B answers with the key while deaf: it must not put it back in a cache it cannot keep true.
          assert.equal((await usersMe(b, round.person.email, round.person.key)).status, 200);
          assert.equal((await usersMe(b, round.bot.email, round.bot.key)).status, 200);
          newKey = await revoke(a, round);
          deafDuringRevocation = (await listeners()) === 0;
          const ms = await refusedEverywhere([a, b, c], round, 2000);
          assert.ok(ms <= 2000);
          people.person = { ...round.person, key: newKey };
        }
        assert.ok(deafDuringRevocation, "a revocation happened while B's listener was down");
        // Once B listens again, it caches again and hears the next change.
        assert.ok(await pollUntil(async () => (await listeners()) === 1, 5000), "B listens again");
        for (const n of [a, b, c]) assert.equal((await usersMe(n, people.person.email, newKey)).status, 200);
        for (let i = 0; i < 2; i++) assert.equal((await usersMe(b, people.person.email, newKey)).status, 200);
        const newer = await call(a.port, "/api/v1/users/me/api_key/regenerate", {
          method: "POST",
          headers: basicAuth(people.person.email, newKey),
        });
        assert.equal(newer.status, 200);
        assert.ok(await pollUntil(async () => (await usersMe(b, people.person.email, newKey)).status === 401, 2000));
      } finally {
        await admin.end();
        for (const n of [a, b, c]) await n.stop("SIGKILL");
      }
    });

    test("Redis stopped and restarted: revoked keys are refused on every node within 2 s, before and after", async () => {
      const redis: RedisServer = await startRedisServer();
      cleanups.push(() => redis.stop());
      const withRedis = { LATCHKEY_REDIS_URL: redis.url };
      const nodes = [
        await node(postgres.url, withRedis),
        await node(postgres.url, withRedis),
        await node(postgres.url, withRedis),
      ];
      const [a] = nodes as [NodeProcess];
      try {
        const people = await cast(a);
        await warm(nodes, people);
        // With Redis up, the revocation travels over pub/sub.
        await revoke(a, people);
        assert.ok((await refusedEverywhere(nodes, people, 2000)) <= 2000);

        const during = await cast(a);
        await warm(nodes, during);
        await redis.stop();
        // Every node still answers (from the database) while Redis is down...
        for (const n of nodes) assert.equal((await usersMe(n, during.person.email, during.person.key)).status, 200);
        // ...and a revocation made meanwhile cannot be published, but is refused everywhere.
        const newKey = await revoke(a, during);
        assert.ok((await refusedEverywhere(nodes, during, 2000)) <= 2000);
        for (const n of nodes) assert.equal((await usersMe(n, during.person.email, newKey)).status, 200);

        await redis.start();
        // Back on Redis: every node serves the new key, caches it, and hears the next change.
        const later = await cast(a);
        const subscribed = await pollUntil(
          async () => {
            const ready = await Promise.all(
              nodes.map((n) =>
                call(n.port, "/health/ready").then(
                  (r) => r.status === 200 && r.json().key_cache === "trusted",
                  () => false,
                ),
              ),
            );
            return ready.every(Boolean);
          },
          15_000,
          200,
        );
        assert.ok(subscribed, "every node reports ready, its key cache trusted again, once Redis is back");
        await warm(nodes, later);
        await revoke(a, later);
        assert.ok((await refusedEverywhere(nodes, later, 2000)) <= 2000);
      } finally {
        for (const n of nodes) await n.stop("SIGKILL");
      }
    });

    test("a node whose database link goes quiet stops accepting a revoked key, answers 503 without hanging, and recovers", async () => {
      const proxy = await freezableProxy(Number(new URL(ADMIN_URL).port || 5432), new URL(ADMIN_URL).hostname);
      cleanups.push(() => proxy.close());
      const viaProxy = new URL(postgres.url);
      viaProxy.port = String(proxy.port);
      const a = await node(postgres.url);
      const quiet = await node(viaProxy.toString());
      try {
        const people = await cast(a);
        await warm([a, quiet], people);

        proxy.freeze();
        const newKey = await revoke(a, people);
        // The TTL (10 s) bounds how long the quiet node may still accept the old key; its
        // heartbeat notices the silence sooner and stops trusting the cache.
        const started = Date.now();
        let answer = await usersMe(quiet, people.person.email, people.person.key);
        while (answer.status === 200 && Date.now() - started < 10_000 + 2000) {
          await new Promise((r) => setTimeout(r, 100));
          answer = await usersMe(quiet, people.person.email, people.person.key);
        }
        assert.notEqual(answer.status, 200, "the quiet node still accepted the revoked key after the TTL");
        // Where it needs the database, it answers 503 within the database timeout, not never.
        assert.equal(answer.status, 503, answer.body);
        assert.equal(answer.json().code, "SERVICE_UNAVAILABLE");
        assert.match(String(answer.headers["x-request-id"]), /.+/);
        const fresh = await usersMe(quiet, people.person.email, newKey);
        assert.equal(fresh.status, 503);

        proxy.thaw();
        // The link returns: the node recovers by itself.
        const recovered = await pollUntil(
          async () => {
            const [oldKey, current] = await Promise.all([
              usersMe(quiet, people.person.email, people.person.key),
              usersMe(quiet, people.person.email, newKey),
            ]);
            return oldKey.status === 401 && current.status === 200;
          },
          15_000,
          200,
        );
        assert.ok(recovered, "the node answers again once the link returns");
      } finally {
        proxy.thaw();
        for (const n of [a, quiet]) await n.stop("SIGKILL");
      }
    });

    test("a change no node hears is refused everywhere once the cache lifetime has passed", async () => {
      const ttl = { LATCHKEY_KEY_CACHE_TTL: "2" };
      const nodes = [await node(postgres.url, ttl), await node(postgres.url, ttl), await node(postgres.url, ttl)];
      try {
        const people = await cast(nodes[0] as NodeProcess);
        await warm(nodes, people);
        // Behind every node's back: a deactivation written straight into the database.
        const admin = new pg.Client({ connectionString: postgres.url.replace(/[?&]schema=[^&]*/, "") });
        await admin.connect();
        const schema = new URL(postgres.url).searchParams.get("schema");
        await admin.query(`UPDATE ${schema}.users SET is_active = 0 WHERE delivery_email = $1`, [people.person.email]);
        await admin.end();
        const started = Date.now();
        const refused = await pollUntil(async () => {
          const answers = await Promise.all(nodes.map((n) => usersMe(n, people.person.email, people.person.key)));
          return answers.every((a) => a.status === 401 && a.json().msg === "Account is deactivated");
        }, 2000 + 2000);
        assert.ok(refused, "a node still accepted the key after the 2 s lifetime (and 2 s to spare)");
        assert.ok(Date.now() - started <= 4000);
      } finally {
        for (const n of nodes) await n.stop("SIGKILL");
      }
    });
  });
}
