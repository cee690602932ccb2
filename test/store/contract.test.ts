/**
 * The storage contract: one suite over the `Stores` port (src/domain/ports.ts), run against
 * SQLite in memory, SQLite in a file, and PostgreSQL. Under CI=true an unreachable PostgreSQL
 * fails the run (see freshPostgresUrl).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { generateApiKey, KeyVault, type SealedKey } from "../../src/domain/api-key.js";
import { ROLE } from "../../src/domain/model.js";
import { DuplicateError, type NewUser, type Stores } from "../../src/domain/ports.js";
import { generateSecrets } from "../../src/secrets.js";
import { type DatabaseHandle, openDatabase } from "../../src/store/database.js";
import { createStores } from "../../src/store/stores.js";
import { freshPostgresUrl } from "../helper.js";

const secrets = generateSecrets();
const vault = new KeyVault(secrets.hmacPepper, secrets.keySealingKey);
// Far beyond 2^31: times are bigint milliseconds and must come back exactly.
const NOW = Date.UTC(2026, 0, 1, 12, 34, 56, 789);

function sealed(): { key: string; sealed: SealedKey } {
  const key = generateApiKey();
  return { key, sealed: vault.seal(key) };
}

function newUser(realmId: number, email: string, extra: Partial<NewUser> = {}): NewUser {
  return {
    realmId,
    email,
    deliveryEmail: email,
    fullName: `Name of ${email}`,
    role: ROLE.member,
    passwordHash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
    apiKey: sealed().sealed,
    ...extra,
  };
}

function contract(name: string, open: () => Promise<DatabaseHandle>): void {
  describe(`Stores contract on ${name}`, () => {
    let handle: DatabaseHandle;
    let stores: Stores;
    const fresh = async () => {
      handle = await open();
      stores = createStores(handle.db);
      return stores;
    };
    const close = () => handle.close();
    /** A fresh database with two organizations and two people in the first. */
    const freshWithPeople = async (t: { after(fn: () => Promise<void>): void }) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const other = await stores.realms.create({ subdomain: "other", name: "Other" }, NOW);
      const iago = await stores.users.create(newUser(realm.id, "iago@zulip.com"), NOW);
      const hamlet = await stores.users.create(newUser(realm.id, "hamlet@zulip.com"), NOW);
      return { realm, other, iago, hamlet };
    };

    test("realms: create with defaults, find by subdomain and id, list in order, update, refuse duplicates", async (t) => {
      await fresh();
      t.after(close);
      const root = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      assert.deepEqual(root, {
        id: root.id,
        subdomain: "",
        name: "Root",
        description: "",
        deactivated: false,
        authMethods: { email: true, ldap: false, dev: true, oidc: true },
        dateCreated: NOW,
        ldapAutoCreate: false,
        oidcAutoCreate: false,
      });
      const lear = await stores.realms.create(
        { subdomain: "lear", name: "Lear", description: "Desc", authMethods: { email: false, ldap: true } },
        NOW + 1,
      );
      assert.deepEqual(lear.authMethods, { email: false, ldap: true, dev: true, oidc: true });
      assert.equal(lear.description, "Desc");
      assert.deepEqual(await stores.realms.findBySubdomain("lear"), lear);
      assert.deepEqual(await stores.realms.findBySubdomain(""), root);
      assert.equal(await stores.realms.findBySubdomain("LEAR"), null);
      assert.equal(await stores.realms.findBySubdomain("nope"), null);
      assert.equal(await stores.realms.findBySubdomain("a\u0000b"), null);
      assert.deepEqual(await stores.realms.findById(root.id), root);
      assert.equal(await stores.realms.findById(999_999), null);
      assert.deepEqual(
        (await stores.realms.list()).map((r) => r.subdomain),
        ["", "lear"],
      );

      const updated = await stores.realms.update(lear.id, {
        name: "Lear II",
        deactivated: true,
        authMethods: { dev: false, oidc: false },
        ldapAutoCreate: true,
        oidcAutoCreate: true,
      });
      assert.deepEqual(updated, {
        ...lear,
        name: "Lear II",
        deactivated: true,
        authMethods: { email: false, ldap: true, dev: false, oidc: false },
        ldapAutoCreate: true,
        oidcAutoCreate: true,
      });
      assert.deepEqual(await stores.realms.findById(lear.id), updated);
      // No changes: the current row; a missing id: null.
      assert.deepEqual(await stores.realms.update(lear.id, {}), updated);
      assert.equal(await stores.realms.update(999_999, { name: "x" }), null);
      // 0003_ldap: account creation on first LDAP login, off by default, set by itself.
      const autoCreate = await stores.realms.update(lear.id, { ldapAutoCreate: true });
      assert.deepEqual(autoCreate, { ...updated, ldapAutoCreate: true });
      assert.equal((await stores.realms.findById(root.id))?.ldapAutoCreate, false);

      await assert.rejects(stores.realms.create({ subdomain: "lear", name: "Again" }, NOW), DuplicateError);
      assert.equal((await stores.realms.list()).length, 2);
    });

    test("users: create with defaults, every finder, case-insensitive email, realm scoping", async (t) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const other = await stores.realms.create({ subdomain: "other", name: "Other" }, NOW);
      const key = sealed();
      const iago = await stores.users.create(
        newUser(realm.id, "Iago@Zulip.com", { apiKey: key.sealed, role: ROLE.administrator, timezone: "Europe/Paris" }),
        NOW,
      );
      assert.deepEqual(iago, {
        id: iago.id,
        realmId: realm.id,
        email: "Iago@Zulip.com",
        deliveryEmail: "Iago@Zulip.com",
        fullName: "Name of Iago@Zulip.com",
        role: ROLE.administrator,
        isActive: true,
        isBot: false,
        botType: null,
        botOwnerId: null,
        passwordHash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        dateJoined: NOW,
        timezone: "Europe/Paris",
        enableLoginEmails: true,
        twentyFourHourTime: false,
        avatarVersion: 1,
      });
      assert.deepEqual(await stores.users.findById(iago.id), iago);
      assert.equal(await stores.users.findById(999_999), null);

      for (const email of ["iago@zulip.com", "IAGO@ZULIP.COM", "  Iago@Zulip.com\t", "iAgO@zUlIp.CoM"]) {
        assert.deepEqual(await stores.users.findByDeliveryEmail(realm.id, email), iago, email);
      }
      assert.equal(await stores.users.findByDeliveryEmail(other.id, "iago@zulip.com"), null);
      assert.equal(await stores.users.findByDeliveryEmail(realm.id, "iago@zulip.co"), null);
      assert.equal(await stores.users.findByDeliveryEmail(realm.id, "iago\u0000@zulip.com"), null);
      assert.equal(await stores.users.existsInOtherRealm("IAGO@zulip.com", other.id), true);
      assert.equal(await stores.users.existsInOtherRealm("iago@zulip.com", realm.id), false);
      assert.equal(await stores.users.existsInOtherRealm("nobody@zulip.com", other.id), false);
      assert.equal(await stores.users.existsInOtherRealm("\u0000", other.id), false);

      // The key: found by digest only, and its sealed copy opens to the key.
      assert.deepEqual(await stores.users.findByApiKeyDigest(vault.digest(key.key)), iago);
      assert.equal(await stores.users.findByApiKeyDigest(vault.digest(generateApiKey())), null);
      const stored = await stores.users.getSealedApiKey(iago.id);
      assert.ok(stored !== null);
      assert.equal(vault.unseal(stored), key.key);
      assert.equal(await stores.users.getSealedApiKey(999_999), null);

      const bot = await stores.users.create(
        newUser(realm.id, "bot@zulip.com", { isBot: true, botType: 1, botOwnerId: iago.id, passwordHash: null }),
        NOW,
      );
      assert.equal(bot.isBot, true);
      assert.equal(bot.botType, 1);
      assert.equal(bot.botOwnerId, iago.id);
      assert.equal(bot.passwordHash, null);
      const hamlet = await stores.users.create(newUser(realm.id, "hamlet@zulip.com"), NOW);
      const gone = await stores.users.create(newUser(other.id, "gone@other.org"), NOW);
      await stores.users.update(gone.id, { isActive: false });
      const desdemona = await stores.users.create(newUser(other.id, "desdemona@other.org"), NOW);

      assert.deepEqual(
        (await stores.users.listByRealm(realm.id)).map((u) => u.id),
        [iago.id, bot.id, hamlet.id],
      );
      assert.deepEqual(
        (await stores.users.listActiveHumans()).map((u) => u.id),
        [iago.id, hamlet.id, desdemona.id],
      );
    });

    test("users: updates, a new key replacing the old, and duplicates refused", async (t) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const other = await stores.realms.create({ subdomain: "other", name: "Other" }, NOW);
      const first = sealed();
      const user = await stores.users.create(newUser(realm.id, "hamlet@zulip.com", { apiKey: first.sealed }), NOW);

      const changed = await stores.users.update(user.id, {
        fullName: "Prince Hamlet",
        role: ROLE.owner,
        isActive: false,
        passwordHash: null,
      });
      assert.deepEqual(changed, { ...user, fullName: "Prince Hamlet", role: ROLE.owner, isActive: false, passwordHash: null });
      assert.deepEqual(await stores.users.findById(user.id), changed);
      assert.deepEqual(await stores.users.update(user.id, {}), changed);
      assert.equal(await stores.users.update(999_999, { fullName: "x" }), null);

      const second = sealed();
      await stores.users.update(user.id, { apiKey: second.sealed });
      assert.equal(await stores.users.findByApiKeyDigest(vault.digest(first.key)), null);
      assert.equal((await stores.users.findByApiKeyDigest(vault.digest(second.key)))?.id, user.id);
      assert.equal(vault.unseal((await stores.users.getSealedApiKey(user.id)) as SealedKey), second.key);

      // The same email in the same organization, in any case: refused. In another: fine.
      await assert.rejects(stores.users.create(newUser(realm.id, "HAMLET@zulip.com"), NOW), DuplicateError);
      await assert.rejects(stores.users.create(newUser(realm.id, " hamlet@zulip.com "), NOW), DuplicateError);
      const elsewhere = await stores.users.create(newUser(other.id, "hamlet@zulip.com"), NOW);
      assert.equal(elsewhere.realmId, other.id);
      // Two accounts can never share a key.
      await assert.rejects(
        stores.users.create(newUser(realm.id, "ophelia@zulip.com", { apiKey: second.sealed }), NOW),
        DuplicateError,
      );
      await assert.rejects(stores.users.update(elsewhere.id, { apiKey: second.sealed }), DuplicateError);
      assert.equal((await stores.users.findByApiKeyDigest(vault.digest(second.key)))?.id, user.id);
      assert.deepEqual(
        (await stores.users.listByRealm(realm.id)).map((u) => u.deliveryEmail),
        ["hamlet@zulip.com"],
      );
    });

    test("replaceApiKey: swaps the key, only from the expected one when given, never onto another account's", async (t) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const first = sealed();
      const user = await stores.users.create(newUser(realm.id, "hamlet@zulip.com", { apiKey: first.sealed }), NOW);
      const other = await stores.users.create(newUser(realm.id, "ophelia@zulip.com"), NOW);

      const second = sealed();
      assert.equal(await stores.users.replaceApiKey(user.id, second.sealed, first.sealed.digest), true);
      assert.equal(await stores.users.findByApiKeyDigest(first.sealed.digest), null);
      assert.equal((await stores.users.findByApiKeyDigest(second.sealed.digest))?.id, user.id);
      // A request authorized by the old key lost the race: nothing changes.
      const third = sealed();
      assert.equal(await stores.users.replaceApiKey(user.id, third.sealed, first.sealed.digest), false);
      assert.equal((await stores.users.findByApiKeyDigest(second.sealed.digest))?.id, user.id);
      assert.equal(await stores.users.findByApiKeyDigest(third.sealed.digest), null);
      // Unconditional, and for a missing account.
      assert.equal(await stores.users.replaceApiKey(user.id, third.sealed), true);
      assert.equal(vault.unseal((await stores.users.getSealedApiKey(user.id)) as SealedKey), third.key);
      assert.equal(await stores.users.replaceApiKey(999_999, sealed().sealed), false);
      await assert.rejects(stores.users.replaceApiKey(other.id, third.sealed), DuplicateError);
      assert.equal((await stores.users.findByApiKeyDigest(third.sealed.digest))?.id, user.id);
    });

    test("bots by owner in join order, and exact full-name checks among active accounts", async (t) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const owner = await stores.users.create(newUser(realm.id, "owner@zulip.com", { fullName: "Owner" }), NOW);
      const bot = (email: string, at: number, extra: Partial<NewUser> = {}) =>
        stores.users.create(
          newUser(realm.id, email, {
            isBot: true,
            botType: 1,
            botOwnerId: owner.id,
            passwordHash: null,
            fullName: email,
            ...extra,
          }),
          at,
        );
      const late = await bot("late-bot@zulip.com", NOW + 2);
      const early = await bot("early-bot@zulip.com", NOW + 1, { defaultAllPublicStreams: true });
      const gone = await bot("gone-bot@zulip.com", NOW + 3);
      await stores.users.update(gone.id, { isActive: false });
      const bots = await stores.users.listBotsOwnedBy(owner.id);
      assert.deepEqual(
        bots.map((b) => [b.id, b.defaultAllPublicStreams]),
        [
          [early.id, true],
          [late.id, false],
        ],
      );
      assert.deepEqual(
        (await stores.users.listBotsOwnedBy(owner.id, true)).map((b) => b.id),
        [early.id, late.id, gone.id],
      );
      assert.deepEqual(await stores.users.listBotsOwnedBy(early.id), []);

      assert.equal(await stores.users.activeFullNameExists(realm.id, "Owner"), true);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "owner"), false);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "gone-bot@zulip.com"), false);
      assert.equal(await stores.users.activeFullNameExists(realm.id + 1, "Owner"), false);
      assert.equal(await stores.users.activeFullNameExists(realm.id, "Own\u0000er"), false);
    });

    test("push tokens, audit log, key uses and bot services: stored, listed in order, scoped, and rolled back", async (t) => {
      const { realm, other, iago, hamlet } = await freshWithPeople(t);

      // Push tokens: a repeated (user, kind, token) is kept once.
      await stores.pushDevices.add(iago.id, 1, "apns-token", "org.zulip.Zulip", NOW);
      await stores.pushDevices.add(iago.id, 1, "apns-token", "org.zulip.Zulip", NOW + 1);
      await stores.pushDevices.add(iago.id, 2, "fcm-token", null, NOW);
      await stores.pushDevices.add(hamlet.id, 2, "fcm-token", null, NOW);
      assert.deepEqual(await stores.pushDevices.list(iago.id), [
        { kind: 1, token: "apns-token", iosAppId: "org.zulip.Zulip" },
        { kind: 2, token: "fcm-token", iosAppId: null },
      ]);
      assert.equal(await stores.pushDevices.remove(iago.id, 2, "fcm-token"), true);
      assert.equal(await stores.pushDevices.remove(iago.id, 2, "fcm-token"), false);
      assert.equal(await stores.pushDevices.removeAll(iago.id), 1);
      assert.deepEqual(await stores.pushDevices.list(iago.id), []);
      assert.equal((await stores.pushDevices.list(hamlet.id)).length, 1);

      // Audit log: newest first, per organization, extra data and big times intact.
      const event = { realmId: realm.id, actingUserId: iago.id, modifiedUserId: hamlet.id, ip: "127.0.0.1", client: "test" };
      await stores.auditLog.add({ ...event, eventType: 127, eventTime: NOW, extra: { note: "é", n: [1, 2] } });
      await stores.auditLog.add({ ...event, eventType: 102, eventTime: NOW + 5, actingUserId: null, ip: null, client: null });
      await stores.auditLog.add({ ...event, realmId: other.id, eventType: 101, eventTime: NOW + 9 });
      const events = await stores.auditLog.list(realm.id, 10);
      assert.deepEqual(
        events.map((e) => [e.eventType, e.eventTime, e.actingUserId, e.ip, e.client, e.extra]),
        [
          [102, NOW + 5, null, null, null, {}],
          [127, NOW, iago.id, "127.0.0.1", "test", { note: "é", n: [1, 2] }],
        ],
      );
      assert.equal((await stores.auditLog.list(realm.id, 1)).length, 1);

      // Key uses: one row per key, the latest use wins; forgetting keeps only the current key.
      await stores.keyUses.recordMany([
        { userId: iago.id, keyDigest: "digest-old", use: { usedAt: NOW, ip: "10.0.0.1", client: "a" } },
      ]);
      await stores.keyUses.recordMany([
        { userId: iago.id, keyDigest: "digest-new", use: { usedAt: NOW, ip: "10.0.0.2", client: "b" } },
      ]);
      await stores.keyUses.recordMany([
        { userId: iago.id, keyDigest: "digest-new", use: { usedAt: NOW + 60_000, ip: "10.0.0.3", client: "c" } },
      ]);
      assert.deepEqual(await stores.keyUses.find("digest-new"), { usedAt: NOW + 60_000, ip: "10.0.0.3", client: "c" });
      // Several keys in one statement: a row already there is updated, a new one inserted.
      await stores.keyUses.recordMany([
        { userId: iago.id, keyDigest: "digest-new", use: { usedAt: NOW + 120_000, ip: "10.0.0.4", client: "d" } },
        { userId: hamlet.id, keyDigest: "digest-hamlet", use: { usedAt: NOW, ip: "10.0.0.5", client: "e" } },
      ]);
      assert.deepEqual(await stores.keyUses.find("digest-new"), { usedAt: NOW + 120_000, ip: "10.0.0.4", client: "d" });
      assert.deepEqual(await stores.keyUses.find("digest-hamlet"), { usedAt: NOW, ip: "10.0.0.5", client: "e" });
      await stores.keyUses.forgetOthers(iago.id, "digest-new");
      assert.equal(await stores.keyUses.find("digest-old"), null);
      assert.notEqual(await stores.keyUses.find("digest-new"), null);
      assert.notEqual(await stores.keyUses.find("digest-hamlet"), null, "another account's keys stay");

      // Bot services.
      const bot = await stores.users.create(
        newUser(realm.id, "outgoing-bot@zulip.com", { isBot: true, botType: 3, botOwnerId: iago.id, passwordHash: null }),
        NOW,
      );
      const token = sealed();
      await stores.botServices.add(bot.id, { baseUrl: "https://bots.example.com/hook", interface: 1, token: token.sealed });
      const service = await stores.botServices.find(bot.id);
      assert.deepEqual(service, { baseUrl: "https://bots.example.com/hook", interface: 1, token: token.sealed });
      assert.equal(vault.unseal(service?.token as SealedKey), token.key);
      assert.equal(await stores.botServices.find(iago.id), null);

      // All of them roll back with the transaction they were written in.
      await assert.rejects(
        stores.transaction(async (tx) => {
          await tx.pushDevices.add(iago.id, 1, "lost-token", null, NOW);
          await tx.auditLog.add({ ...event, eventType: 999, eventTime: NOW + 99 });
          await tx.keyUses.recordMany([
            { userId: iago.id, keyDigest: "digest-lost", use: { usedAt: NOW, ip: "x", client: "y" } },
          ]);
          throw new Error("undo");
        }),
        /undo/,
      );
      assert.deepEqual(await stores.pushDevices.list(iago.id), []);
      assert.equal((await stores.auditLog.list(realm.id, 10)).length, 2);
      assert.equal(await stores.keyUses.find("digest-lost"), null);
    });

    test("OpenID Connect logins in flight: used up once, never after expiry, one winner of two at once, swept", async (t) => {
      await fresh();
      t.after(close);
      const login = { stateHash: "a".repeat(64), sealed: "sealed-a", createdAt: NOW, expiresAt: NOW + 1000 };
      await stores.oidcLogins.create(login);
      await stores.oidcLogins.create({ ...login, stateHash: "b".repeat(64), sealed: "sealed-b" });
      await stores.oidcLogins.create({ ...login, stateHash: "c".repeat(64), sealed: "sealed-c", expiresAt: NOW + 10 });
      assert.equal(await stores.oidcLogins.consume("z".repeat(64), NOW), null);
      // At its expiry time a login is gone.
      assert.equal(await stores.oidcLogins.consume("c".repeat(64), NOW + 10), null);
      assert.deepEqual(await stores.oidcLogins.consume("a".repeat(64), NOW + 999), login);
      assert.equal(await stores.oidcLogins.consume("a".repeat(64), NOW + 999), null);
      const [first, second] = await Promise.all([
        stores.oidcLogins.consume("b".repeat(64), NOW),
        stores.oidcLogins.consume("b".repeat(64), NOW),
      ]);
      assert.equal([first, second].filter((x) => x !== null).length, 1);
      await stores.oidcLogins.create({ ...login, stateHash: "d".repeat(64), expiresAt: NOW + 5 });
      await stores.oidcLogins.create({ ...login, stateHash: "e".repeat(64), expiresAt: NOW + 50 });
      await stores.oidcLogins.deleteExpired(NOW + 5);
      const db = handle.db;
      const left = (await db.selectFrom("oidc_logins").select("state_hash").orderBy("state_hash").execute()).map(
        (r) => r.state_hash[0],
      );
      assert.deepEqual(left, ["c", "e"]);
    });

    test("web sessions and one-time tokens end per account, all but one, or per organization", async (t) => {
      const { realm, other, iago, hamlet } = await freshWithPeople(t);
      const stranger = await stores.users.create(newUser(other.id, "stranger@zulip.com"), NOW);
      const session = (idHash: string, userId: number) =>
        stores.sessions.create({ idHash, userId, createdAt: NOW, expiresAt: NOW + 1000 });
      const token = (tokenHash: string, userId: number, kind: "password_reset" | "desktop_login") =>
        stores.oneTimeTokens.create({ tokenHash, userId, kind, createdAt: NOW, expiresAt: NOW + 1000 });
      for (const [hash, user] of [
        ["i1", iago],
        ["i2", iago],
        ["i3", iago],
        ["h1", hamlet],
        ["s1", stranger],
      ] as const)
        await session(hash, user.id);
      for (const [hash, user, kind] of [
        ["ir", iago, "password_reset"],
        ["id", iago, "desktop_login"],
        ["hr", hamlet, "password_reset"],
        ["sr", stranger, "password_reset"],
      ] as const) {
        await token(hash, user.id, kind);
      }
      const sessionsLeft = async () => {
        const left: string[] = [];
        for (const hash of ["i1", "i2", "i3", "h1", "s1"]) if ((await stores.sessions.find(hash)) !== null) left.push(hash);
        return left;
      };
      const tokensLeft = async () => {
        const left: string[] = [];
        for (const [hash, kind] of [
          ["ir", "password_reset"],
          ["id", "desktop_login"],
          ["hr", "password_reset"],
          ["sr", "password_reset"],
        ] as const) {
          if ((await stores.oneTimeTokens.peek(hash, kind, NOW)) !== null) left.push(hash);
        }
        return left;
      };
      await stores.sessions.deleteForUser(iago.id, "i2");
      assert.deepEqual(await sessionsLeft(), ["i2", "h1", "s1"]);
      await stores.sessions.deleteForUser(iago.id);
      assert.deepEqual(await sessionsLeft(), ["h1", "s1"]);
      await stores.oneTimeTokens.deleteForUser(iago.id, "desktop_login");
      assert.deepEqual(await tokensLeft(), ["ir", "hr", "sr"]);
      await stores.oneTimeTokens.deleteForUser(iago.id);
      assert.deepEqual(await tokensLeft(), ["hr", "sr"]);
      await stores.sessions.deleteForRealm(realm.id);
      await stores.oneTimeTokens.deleteForRealm(realm.id);
      assert.deepEqual(await sessionsLeft(), ["s1"]);
      assert.deepEqual(await tokensLeft(), ["sr"]);
    });

    test("transactions commit on success and roll everything back on an error, a duplicate included", async (t) => {
      await fresh();
      t.after(close);
      const realm = await stores.realms.create({ subdomain: "", name: "Root" }, NOW);
      const result = await stores.transaction(async (tx) => {
        const r = await tx.realms.create({ subdomain: "kept", name: "Kept" }, NOW);
        await tx.users.create(newUser(r.id, "kept@zulip.com"), NOW);
        // A nested call joins the same transaction.
        return tx.transaction(async (inner) => (await inner.realms.findBySubdomain("kept"))?.id);
      });
      assert.equal(typeof result, "number");
      assert.notEqual(await stores.realms.findBySubdomain("kept"), null);

      await assert.rejects(
        stores.transaction(async (tx) => {
          const r = await tx.realms.create({ subdomain: "lost", name: "Lost" }, NOW);
          await tx.users.create(newUser(r.id, "lost@zulip.com"), NOW);
          await tx.users.update((await tx.users.findByDeliveryEmail(r.id, "lost@zulip.com"))?.id ?? 0, { fullName: "x" });
          throw new Error("changed my mind");
        }),
        /changed my mind/,
      );
      assert.equal(await stores.realms.findBySubdomain("lost"), null);
      assert.equal(await stores.users.existsInOtherRealm("lost@zulip.com", realm.id), false);

      const hamlet = await stores.users.create(newUser(realm.id, "hamlet@zulip.com"), NOW);
      await assert.rejects(
        stores.transaction(async (tx) => {
          await tx.users.update(hamlet.id, { fullName: "Renamed", isActive: false });
          await tx.realms.update(realm.id, { deactivated: true });
          await tx.users.create(newUser(realm.id, "Hamlet@Zulip.com"), NOW);
        }),
        DuplicateError,
      );
      assert.deepEqual(await stores.users.findById(hamlet.id), hamlet);
      assert.equal((await stores.realms.findById(realm.id))?.deactivated, false);
    });
  });
}

contract("SQLite in memory", () => openDatabase(":memory:"));

// A file in a directory of its own for every test, removed by that test's own cleanup.
contract("SQLite in a file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-contract-"));
  const handle = await openDatabase(join(dir, "db.sqlite"));
  return {
    ...handle,
    close: async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// Under CI a missing PostgreSQL fails here; elsewhere the suite prints a note and is left out.
const postgres = await freshPostgresUrl();
if (postgres !== null) {
  await postgres.drop();
  // A schema of its own for every test, dropped by that test's own cleanup (not by a file-level
  // hook, which could run while later tests still use their schemas).
  contract("PostgreSQL", async () => {
    const fresh = await freshPostgresUrl();
    if (fresh === null) throw new Error("PostgreSQL went away during the run");
    const handle = await openDatabase(fresh.url);
    return {
      ...handle,
      close: async () => {
        await handle.close();
        await fresh.drop();
      },
    };
  });
}
