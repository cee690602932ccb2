/**
 * The storage contract: one suite over the `Stores` port (src/domain/ports.ts), run against
 * SQLite in memory, SQLite in a file, and PostgreSQL. Under CI=true an unreachable PostgreSQL
 * fails the run (see freshPostgresUrl).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
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
        authMethods: { email: true, ldap: false, dev: true },
        dateCreated: NOW,
        ldapAutoCreate: false,
      });
      const lear = await stores.realms.create(
        { subdomain: "lear", name: "Lear", description: "Desc", authMethods: { email: false, ldap: true } },
        NOW + 1,
      );
      assert.deepEqual(lear.authMethods, { email: false, ldap: true, dev: true });
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

      const updated = await stores.realms.update(lear.id, { name: "Lear II", deactivated: true, authMethods: { dev: false } });
      assert.deepEqual(updated, {
        ...lear,
        name: "Lear II",
        deactivated: true,
        authMethods: { email: false, ldap: true, dev: false },
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

const dir = mkdtempSync(join(tmpdir(), "latchkey-contract-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
contract("SQLite in a file", () => openDatabase(join(dir, `db-${++files}.sqlite`)));

const postgres = await freshPostgresUrl();
if (postgres !== null) {
  const schemas: { drop(): Promise<void> }[] = [postgres];
  after(async () => {
    for (const s of schemas) await s.drop();
  });
  let used = false;
  contract("PostgreSQL", async () => {
    // A schema of its own for every test.
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
