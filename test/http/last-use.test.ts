/**
 * Each key's last use (time, address, client), written at most once a minute per key in the
 * background, shown to its owner at `GET /api/v1/latchkey/api_key/last_use`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BATCH_DELAY_MS, BATCH_MAX, type KeyUseTracker } from "../../src/domain/key-use.js";
import { startServer } from "../../src/server.js";
import { openDatabase } from "../../src/store/database.js";
import { createStores } from "../../src/store/stores.js";
import { pollUntil } from "../cluster-helper.js";
import { basic, json, makeTestServer, type TestServer, testConfig } from "../helper.js";

const LAST_USE = "/api/v1/latchkey/api_key/last_use";

function hamletAuth(server: TestServer): string {
  return basic("hamlet@zulip.com", server.keys.get(server.hamlet.id) as string);
}

async function use(
  server: TestServer,
  auth: string,
  headers: Record<string, string> = {},
  address = "198.51.100.1",
  url = "/api/v1/users/me",
) {
  const res = await server.app.inject({
    method: "GET",
    url,
    headers: { authorization: auth, ...headers },
    remoteAddress: address,
  });
  assert.equal(res.statusCode, 200, res.body);
}

async function lastUse(server: TestServer): Promise<unknown> {
  await server.ctx.keyUse?.flush();
  const sealed = await server.ctx.stores.users.getSealedApiKey(server.hamlet.id);
  return server.ctx.stores.keyUses.find(sealed?.digest as string);
}

test("a key's use is recorded at most once a minute, with address and client", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const auth = hamletAuth(server);
  assert.equal(await lastUse(server), null);

  const start = server.clock.now();
  await use(server, auth, { "user-agent": "ZulipMobile/27.1 (Android 14)" }, "203.0.113.5");
  assert.deepEqual(await lastUse(server), { usedAt: start, ip: "203.0.113.5", client: "ZulipMobile" });

  // Within the minute, further uses are not written.
  server.clock.advance(59);
  await use(server, auth, { "user-agent": "ZulipTerminal/0.7" }, "203.0.113.6");
  assert.deepEqual(await lastUse(server), { usedAt: start, ip: "203.0.113.5", client: "ZulipMobile" });

  // After it, the next one is; the `client` parameter wins over the User-Agent.
  server.clock.advance(1);
  await use(server, auth, { "user-agent": "ZulipTerminal/0.7" }, "203.0.113.6", "/api/v1/users/me?client=website");
  assert.deepEqual(await lastUse(server), { usedAt: start + 60_000, ip: "203.0.113.6", client: "website" });

  // Another user's key has its own record.
  const iago = basic("iago@zulip.com", server.keys.get(server.iago.id) as string);
  await use(server, iago, { "user-agent": "" });
  await server.ctx.keyUse?.flush();
  const iagoDigest = (await server.ctx.stores.users.getSealedApiKey(server.iago.id))?.digest as string;
  assert.deepEqual(await server.ctx.stores.keyUses.find(iagoDigest), {
    usedAt: start + 60_000,
    ip: "198.51.100.1",
    client: "Unspecified",
  });
});

test("the owner reads their key's last use; a new key starts with none", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const auth = hamletAuth(server);
  const read = async (a: string) =>
    server.app.inject({
      method: "GET",
      url: LAST_USE,
      headers: { authorization: a, "user-agent": "curl/8.5.0" },
      remoteAddress: "192.0.2.44",
    });

  const first = await read(auth);
  assert.equal(first.statusCode, 200);
  // The request that asks is itself a use of the key.
  assert.deepEqual(json(first), {
    result: "success",
    msg: "",
    last_use: { timestamp: Math.floor(server.clock.now() / 1000), ip: "192.0.2.44", client: "curl" },
  });

  const regenerated = await server.app.inject({
    method: "POST",
    url: "/api/v1/users/me/api_key/regenerate",
    headers: { authorization: auth },
  });
  const newAuth = basic("hamlet@zulip.com", json(regenerated).api_key as string);
  await server.ctx.keyUse?.flush();
  const sealed = await server.ctx.stores.users.getSealedApiKey(server.hamlet.id);
  assert.equal(await server.ctx.stores.keyUses.find(sealed?.digest as string), null);
  server.clock.advance(120);
  const second = await read(newAuth);
  assert.deepEqual(json(second).last_use, { timestamp: Math.floor(server.clock.now() / 1000), ip: "192.0.2.44", client: "curl" });

  const anonymous = await server.app.inject({ method: "GET", url: LAST_USE });
  assert.equal(anonymous.statusCode, 401);
  assert.equal(json(anonymous).msg, "Not logged in: API authentication or user session required");
});

test("with LATCHKEY_TRACK_KEY_USE=false nothing is recorded", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_TRACK_KEY_USE: "false" } });
  t.after(() => server.close());
  assert.equal(server.ctx.keyUse, null);
  await use(server, hamletAuth(server));
  const res = await server.app.inject({ method: "GET", url: LAST_USE, headers: { authorization: hamletAuth(server) } });
  assert.deepEqual(json(res), { result: "success", msg: "", last_use: null });
});

test("a failed write is logged and the request is still answered", async (t) => {
  const warnings: string[] = [];
  const server = await makeTestServer({
    log: { info() {}, warn: (_obj: object, msg?: string) => warnings.push(msg ?? ""), error() {} },
  });
  t.after(() => server.close());
  server.ctx.stores.keyUses.recordMany = async () => {
    throw new Error("disk full");
  };
  await use(server, hamletAuth(server));
  await server.ctx.keyUse?.flush();
  assert.deepEqual(warnings, ["could not record an API key's use"]);
});

test("LATCHKEY_TRACK_KEY_USE_INTERVAL sets how often a key's use is written", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_TRACK_KEY_USE_INTERVAL: "5" } });
  t.after(() => server.close());
  const auth = hamletAuth(server);
  const start = server.clock.now();
  await use(server, auth, { "user-agent": "ZulipMobile/27.1" }, "203.0.113.5");
  server.clock.advance(4);
  await use(server, auth, { "user-agent": "ZulipMobile/27.1" }, "203.0.113.6");
  assert.deepEqual(await lastUse(server), { usedAt: start, ip: "203.0.113.5", client: "ZulipMobile" });
  server.clock.advance(1);
  await use(server, auth, { "user-agent": "ZulipMobile/27.1" }, "203.0.113.7");
  assert.deepEqual(await lastUse(server), { usedAt: start + 5000, ip: "203.0.113.7", client: "ZulipMobile" });
});

test("uses noted together are written in one statement, in the background, without waiting for a read", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const tracker = server.ctx.keyUse as KeyUseTracker;
  const digests = await Promise.all(
    [server.iago, server.hamlet].map(async (u) => (await server.ctx.stores.users.getSealedApiKey(u.id))?.digest as string),
  );
  const describe = (ip: string) => ({ ip, client: "ZulipMobile" });
  // Noted in one turn of the event loop, so nothing can be written in between.
  tracker.note(digests[0] as string, server.iago.id, "203.0.113.1", describe);
  tracker.note(digests[1] as string, server.hamlet.id, "203.0.113.2", describe);
  assert.equal(tracker.statements, 0, "nothing is written while the request is answered");
  // No flush: the batch goes out on its own once BATCH_DELAY_MS has passed.
  assert.equal(BATCH_DELAY_MS, 100, "docs/key-lifecycle.md says 100 ms");
  assert.ok(await pollUntil(async () => (await server.ctx.stores.keyUses.find(digests[1] as string)) !== null, 10_000));
  assert.equal((await server.ctx.stores.keyUses.find(digests[0] as string))?.ip, "203.0.113.1");
  assert.deepEqual({ writes: tracker.writes, statements: tracker.statements }, { writes: 2, statements: 1 });
});

test("a batch holds at most BATCH_MAX uses: the use past it goes out in a statement of its own", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const tracker = server.ctx.keyUse as KeyUseTracker;
  assert.equal(BATCH_MAX, 500, "docs/key-lifecycle.md says 500");
  const describe = (ip: string) => ({ ip, client: "ZulipMobile" });
  for (let i = 0; i <= BATCH_MAX; i++) tracker.note(`digest-${i}`, server.iago.id, "203.0.113.1", describe);
  // The BATCH_MAX-th use sent the full batch at once; the one after it waits for the next.
  assert.deepEqual({ writes: tracker.writes, statements: tracker.statements }, { writes: BATCH_MAX, statements: 1 });
  await tracker.flush();
  assert.deepEqual({ writes: tracker.writes, statements: tracker.statements }, { writes: BATCH_MAX + 1, statements: 2 });
  assert.notEqual(await server.ctx.stores.keyUses.find(`digest-${BATCH_MAX}`), null);
});

test("a server that stops writes the uses it has noted before it closes the database", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-last-use-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const databaseUrl = join(dir, "latchkey.sqlite");
  const config = testConfig("development", {
    LATCHKEY_DATABASE_URL: databaseUrl,
    LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
    PORT: "0",
    HOST: "127.0.0.1",
  });
  const server = await startServer(config, () => {});
  const tracker = server.ctx.keyUse as KeyUseTracker;
  const user = (await server.ctx.stores.users.findByDeliveryEmail(1, "iago@zulip.com")) as { id: number };
  const digest = (await server.ctx.stores.users.getSealedApiKey(user.id))?.digest as string;
  tracker.note(digest, user.id, "203.0.113.9", (ip) => ({ ip, client: "ZulipTerminal" }));
  assert.equal(tracker.statements, 0, "the use is still waiting for its batch");
  await server.close();

  const database = await openDatabase(databaseUrl);
  t.after(() => database.close());
  assert.equal((await createStores(database.db).keyUses.find(digest))?.client, "ZulipTerminal");
});
