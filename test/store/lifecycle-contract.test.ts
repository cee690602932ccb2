/**
 * The key-lifecycle storage contract (push tokens, audit log, key use, bot services, key
 * replacement, bot listing), run against SQLite and PostgreSQL alike.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { generateApiKey, KeyVault } from "../../src/domain/api-key.js";
import { BOT_TYPE, ROLE } from "../../src/domain/model.js";
import { type NewUser, PUSH_KIND, type Stores } from "../../src/domain/ports.js";
import { generateSecrets } from "../../src/secrets.js";
import { type DatabaseHandle, openDatabase } from "../../src/store/database.js";
import { createStores } from "../../src/store/stores.js";
import { freshPostgresUrl } from "../helper.js";

const secrets = generateSecrets();
const vault = new KeyVault(secrets.hmacPepper, secrets.keySealingKey);
const NOW = Date.UTC(2026, 0, 1, 12, 34, 56, 789);

function newUser(realmId: number, email: string, extra: Partial<NewUser> = {}): NewUser {
  return {
    realmId,
    email,
    deliveryEmail: email,
    fullName: `Name of ${email}`,
    role: ROLE.member,
    passwordHash: null,
    apiKey: vault.seal(generateApiKey()),
    ...extra,
  };
}

function contract(name: string, open: () => Promise<DatabaseHandle>): void {
  describe(`Key-lifecycle stores on ${name}`, () => {
    let handle: DatabaseHandle;
    let stores: Stores;
    const fresh = async () => {
      handle = await open();
      stores = createStores(handle.db);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const owner = await stores.users.create(newUser(realm.id, "owner@example.com", { fullName: "Owner" }), NOW);
      return { realm, owner };
    };

    test("push tokens: idempotent add, remove one, remove all, per user and kind", async (t) => {
      const { realm, owner } = await fresh();
      t.after(() => handle.close());
      const other = await stores.users.create(newUser(realm.id, "other@example.com"), NOW);
      await stores.pushDevices.add(owner.id, PUSH_KIND.apns, "aa", "org.zulip.Zulip", NOW);
      await stores.pushDevices.add(owner.id, PUSH_KIND.apns, "aa", "org.zulip.Zulip", NOW);
      await stores.pushDevices.add(owner.id, PUSH_KIND.fcm, "aa", null, NOW);
      await stores.pushDevices.add(other.id, PUSH_KIND.fcm, "bb", null, NOW);
      assert.deepEqual(await stores.pushDevices.list(owner.id), [
        { kind: PUSH_KIND.apns, token: "aa", iosAppId: "org.zulip.Zulip" },
        { kind: PUSH_KIND.fcm, token: "aa", iosAppId: null },
      ]);
      assert.equal(await stores.pushDevices.remove(owner.id, PUSH_KIND.fcm, "bb"), false);
      assert.equal(await stores.pushDevices.remove(owner.id, PUSH_KIND.fcm, "aa"), true);
      assert.equal(await stores.pushDevices.remove(owner.id, PUSH_KIND.fcm, "aa"), false);
      assert.equal(await stores.pushDevices.removeAll(owner.id), 1);
      assert.deepEqual(await stores.pushDevices.list(owner.id), []);
      assert.equal((await stores.pushDevices.list(other.id)).length, 1);
    });

    test("audit log: newest first, limited, per realm, extra data kept", async (t) => {
      const { realm, owner } = await fresh();
      t.after(() => handle.close());
      const elsewhere = await stores.realms.create({ subdomain: "x", name: "X" }, NOW);
      for (let i = 0; i < 3; i++) {
        await stores.auditLog.add({
          realmId: realm.id,
          actingUserId: owner.id,
          modifiedUserId: owner.id,
          eventType: 127,
          eventTime: NOW + i,
          ip: "192.0.2.1",
          client: "test",
          extra: { n: i },
        });
      }
      await stores.auditLog.add({
        realmId: elsewhere.id,
        actingUserId: null,
        modifiedUserId: null,
        eventType: 101,
        eventTime: NOW,
        ip: null,
        client: null,
      });
      const events = await stores.auditLog.list(realm.id, 2);
      assert.deepEqual(
        events.map((e) => [e.eventTime, e.extra]),
        [
          [NOW + 2, { n: 2 }],
          [NOW + 1, { n: 1 }],
        ],
      );
      assert.deepEqual((await stores.auditLog.list(elsewhere.id, 10))[0]?.extra, {});
    });

    test("key use: upsert per digest, forget a user's other keys", async (t) => {
      const { owner } = await fresh();
      t.after(() => handle.close());
      await stores.keyUses.record(owner.id, "d1", { usedAt: NOW, ip: "192.0.2.1", client: "a" });
      await stores.keyUses.record(owner.id, "d1", { usedAt: NOW + 60_000, ip: "192.0.2.2", client: "b" });
      await stores.keyUses.record(owner.id, "d2", { usedAt: NOW, ip: "::1", client: "c" });
      assert.deepEqual(await stores.keyUses.find("d1"), { usedAt: NOW + 60_000, ip: "192.0.2.2", client: "b" });
      await stores.keyUses.forgetOthers(owner.id, "d2");
      assert.equal(await stores.keyUses.find("d1"), null);
      assert.deepEqual(await stores.keyUses.find("d2"), { usedAt: NOW, ip: "::1", client: "c" });
    });

    test("users: replace a key only while it is the expected one; bots by owner; active names", async (t) => {
      const { realm, owner } = await fresh();
      t.after(() => handle.close());
      const current = (await stores.users.getSealedApiKey(owner.id))?.digest as string;
      const next = vault.seal(generateApiKey());
      assert.equal(await stores.users.replaceApiKey(owner.id, next, "0".repeat(64)), false);
      assert.equal(await stores.users.replaceApiKey(owner.id, next, current), true);
      assert.equal(await stores.users.replaceApiKey(owner.id, vault.seal(generateApiKey()), current), false);
      assert.equal((await stores.users.findByApiKeyDigest(next.digest))?.id, owner.id);
      assert.equal(await stores.users.replaceApiKey(owner.id, vault.seal(generateApiKey())), true);

      const bot = (email: string, fullName: string) =>
        newUser(realm.id, email, { fullName, isBot: true, botType: BOT_TYPE.generic, botOwnerId: owner.id });
      const b1 = await stores.users.create({ ...bot("b1-bot@x", "B1"), defaultAllPublicStreams: true }, NOW + 2);
      const b2 = await stores.users.create(bot("b2-bot@x", "B2"), NOW + 1);
      const b3 = await stores.users.create(bot("b3-bot@x", "B3"), NOW + 3);
      await stores.users.update(b3.id, { isActive: false });
      assert.deepEqual(
        (await stores.users.listBotsOwnedBy(owner.id)).map((b) => [b.id, b.defaultAllPublicStreams]),
        [
          [b2.id, false],
          [b1.id, true],
        ],
      );
      assert.equal((await stores.users.listBotsOwnedBy(owner.id, true)).length, 3);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "B1"), true);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "b1"), false);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "B3"), false);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "B1\u0000"), false);

      await stores.botServices.add(b1.id, { baseUrl: "https://x", interface: 2, token: vault.seal("t".repeat(32)) });
      const service = await stores.botServices.find(b1.id);
      assert.equal(service?.baseUrl, "https://x");
      assert.equal(vault.unseal(service?.token as { digest: string; sealed: string }), "t".repeat(32));
      assert.equal(await stores.botServices.find(b2.id), null);
    });
  });
}

contract("SQLite in memory", () => openDatabase(":memory:"));

const postgres = await freshPostgresUrl();
if (postgres !== null) {
  const schemas: { drop(): Promise<void> }[] = [postgres];
  after(async () => {
    for (const s of schemas) await s.drop();
  });
  let used = false;
  contract("PostgreSQL", async () => {
    if (!used) {
      used = true;
      return openDatabase(postgres.url);
    }
    const next = await freshPostgresUrl();
    if (next === null) throw new Error("PostgreSQL went away during the run");
    schemas.push(next);
    return openDatabase(next.url);
  });
}
