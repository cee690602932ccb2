/**
 * Failures that reveal nothing (security.md): on every password path, an unknown account gets
 * the same status and body as a wrong password, and costs the same hashing work: exactly one
 * verification (Django's `test_authentication_timing`, counted rather than timed).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { Argon2Hasher } from "../../src/auth/password-hasher.js";
import {
  createAccount,
  createRealm,
  setAccountActive,
  setRealmAuthMethods,
  setRealmDeactivated,
} from "../../src/domain/accounts.js";
import type { AuthFlag, Context, ExternalPasswordBackend, PasswordAttempt } from "../../src/domain/context.js";
import { BOT_TYPE, ROLE, type User } from "../../src/domain/model.js";
import { MAX_PASSWORD_BYTES } from "../../src/domain/password-policy.js";
import { FAST_ARGON2, form, makeTestServer, PASSWORD, type TestServer } from "../helper.js";
import { InjectBrowser, pageError } from "../web/web-helper.js";

interface Outcome {
  status: number;
  body: string;
  headers: Record<string, unknown>;
  work: number;
}

/** One fetch_api_key attempt; what the client sees (less the request id) and the work it cost. */
async function attempt(server: TestServer, username: string, password: string): Promise<Outcome> {
  const before = server.hasher.work;
  const res: LightMyRequestResponse = await server.app.inject({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username, password }),
  });
  const { "x-request-id": _id, date: _date, ...headers } = res.headers;
  return { status: res.statusCode, body: res.body, headers, work: server.hasher.work - before };
}

const AUTH_FAILED = `${JSON.stringify({
  result: "error",
  msg: "Your username or password is incorrect",
  code: "AUTHENTICATION_FAILED",
})}\n`;

async function withAccounts(server: TestServer): Promise<Record<string, User>> {
  const { ctx, realm } = server;
  const noPassword = await createAccount(ctx, {
    realmId: realm.id,
    email: "nopassword@zulip.com",
    fullName: "No Password",
    password: null,
  });
  const unusable = await createAccount(ctx, {
    realmId: realm.id,
    email: "imported@zulip.com",
    fullName: "Imported",
    password: null,
  });
  // Django's unusable-password marker, as a Zulip export carries it.
  await ctx.stores.users.update(unusable.user.id, { passwordHash: "!Zg3Xq1vP0aS9kT2mW8yR4cB6nL5jH7d" });
  const malformed = await createAccount(ctx, {
    realmId: realm.id,
    email: "malformed@zulip.com",
    fullName: "Malformed",
    password: null,
  });
  await ctx.stores.users.update(malformed.user.id, { passwordHash: "$argon2id$v=19$m=oops" });
  const bot = await ctx.stores.users.create(
    {
      realmId: realm.id,
      email: "bot@zulip.com",
      deliveryEmail: "bot@zulip.com",
      fullName: "A Bot",
      role: ROLE.member,
      isBot: true,
      botType: BOT_TYPE.generic,
      botOwnerId: server.iago.id,
      passwordHash: null,
      apiKey: ctx.vault.seal("b".repeat(32)),
    },
    ctx.clock.now(),
  );
  const elsewhere = await createRealm(ctx, { subdomain: "other", name: "Another organization" });
  const stranger = await createAccount(ctx, {
    realmId: elsewhere.id,
    email: "stranger@zulip.com",
    fullName: "Stranger",
    password: PASSWORD,
  });
  return { noPassword: noPassword.user, unusable: unusable.user, malformed: malformed.user, bot, stranger: stranger.user };
}

test("unknown, passwordless, unusable, bot and other-organization accounts answer exactly as a wrong password, at one verification each", async (t) => {
  // The real Argon2id hasher underneath, so that its own handling of odd stored hashes counts too.
  const server = await makeTestServer({ hasher: new Argon2Hasher(FAST_ARGON2, 2) });
  t.after(() => server.close());
  const accounts = await withAccounts(server);

  const wrongPassword = await attempt(server, "hamlet@zulip.com", "not-the-password");
  assert.equal(wrongPassword.status, 401);
  assert.equal(wrongPassword.body, AUTH_FAILED);
  assert.equal(wrongPassword.work, 1);

  const cases: [string, string][] = [
    ["no such account", "nobody@zulip.com"],
    ["another account that does not exist, in odd case", "NoOne@Zulip.COM"],
    ["an account without a password", accounts.noPassword?.deliveryEmail as string],
    ["an imported account with Django's unusable password", accounts.unusable?.deliveryEmail as string],
    ["an account with a malformed hash", accounts.malformed?.deliveryEmail as string],
    ["a bot", accounts.bot?.deliveryEmail as string],
    ["an account of another organization", accounts.stranger?.deliveryEmail as string],
  ];
  for (const [label, username] of cases) {
    const outcome = await attempt(server, username, "not-the-password");
    assert.deepEqual(outcome, wrongPassword, label);
  }
  // The other organization's account, with its own correct password: still nothing revealed.
  // It is the second attempt at that name, so one fewer attempt remains; all else is the same.
  const strangerRight = await attempt(server, "Stranger@zulip.com", PASSWORD);
  assert.deepEqual({ ...strangerRight, headers: { ...strangerRight.headers, "x-ratelimit-remaining": "4" } }, wrongPassword);
  assert.equal(strangerRight.headers["x-ratelimit-remaining"], "3");
});

test("the empty password costs one verification for a real account and a missing one alike", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const known = await attempt(server, "hamlet@zulip.com", "");
  const unknown = await attempt(server, "nobody@zulip.com", "");
  assert.equal(known.body, AUTH_FAILED);
  assert.deepEqual(unknown, known);
  assert.equal(known.work, 1);
});

test("oversized passwords are refused before any lookup or hashing, identically for every account", async (t) => {
  const server = await makeTestServer({ env: { LATCHKEY_BODY_LIMIT: String(64 * 1024) } });
  t.after(() => server.close());
  const huge = "p".repeat(MAX_PASSWORD_BYTES + 1);
  const known = await attempt(server, "hamlet@zulip.com", huge);
  const unknown = await attempt(server, "nobody@zulip.com", huge);
  assert.equal(known.status, 401);
  assert.equal(known.body, AUTH_FAILED);
  assert.deepEqual(unknown, known);
  assert.equal(known.work, 0);
  // Multi-byte characters count in bytes: 1366 three-byte characters are over 4096 bytes.
  const wide = await attempt(server, "hamlet@zulip.com", "€".repeat(1366));
  assert.equal(wide.work, 0);
  // At the limit itself the password is checked as usual.
  assert.equal((await attempt(server, "hamlet@zulip.com", "p".repeat(MAX_PASSWORD_BYTES))).work, 1);
});

test("the distinctions Zulip keeps on purpose still cost one verification, so they add no timing signal", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx } = server;
  const other = await createAccount(ctx, {
    realmId: server.realm.id,
    email: "gone@zulip.com",
    fullName: "Gone",
    password: PASSWORD,
  });
  await setAccountActive(ctx, other.user.id, false);
  const deactivated = await attempt(server, "gone@zulip.com", "wrong");
  assert.equal(deactivated.status, 401);
  assert.match(deactivated.body, /USER_DEACTIVATED/);
  assert.equal(deactivated.work, 1);

  await setRealmAuthMethods(ctx, server.realm.id, { email: false });
  for (const username of ["hamlet@zulip.com", "nobody@zulip.com"]) {
    const disabled = await attempt(server, username, "wrong");
    assert.match(disabled.body, /PASSWORD_AUTH_DISABLED/);
    assert.equal(disabled.work, 1);
  }
  await setRealmAuthMethods(ctx, server.realm.id, { email: true });

  await setRealmDeactivated(ctx, server.realm.id, true);
  const realmGone = await attempt(server, "hamlet@zulip.com", "wrong");
  assert.match(realmGone.body, /REALM_DEACTIVATED/);
  assert.equal(realmGone.work, 1);
});

test("any password backend that turns an attempt down without hashing still costs one verification", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  // A directory that knows nobody and checks nothing locally, as an LDAP miss does.
  const directory: ExternalPasswordBackend = {
    name: "directory",
    configured: true,
    requiresEmailUsernames: false,
    accountName: (name: string) => name,
    managesEmail: async () => false,
    async authenticate(_ctx: Context, _attempt: PasswordAttempt, flags: Set<AuthFlag>) {
      flags.add("no_matching_ldap_user");
      return null;
    },
  };
  server.ctx.ldap = directory;
  await setRealmAuthMethods(server.ctx, server.realm.id, { email: false, ldap: true });
  const miss = await attempt(server, "someone", "pw");
  const known = await attempt(server, "hamlet@zulip.com", "pw");
  assert.equal(miss.body, AUTH_FAILED);
  assert.deepEqual(known, miss);
  assert.equal(miss.work, 1);

  // With both methods on, a local wrong password is checked once, not twice.
  await setRealmAuthMethods(server.ctx, server.realm.id, { email: true, ldap: true });
  assert.equal((await attempt(server, "hamlet@zulip.com", "pw")).work, 1);
  assert.equal((await attempt(server, "nobody@zulip.com", "pw")).work, 1);
});

test("a throttled attempt costs no hashing, whoever it names", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const username of ["hamlet@zulip.com", "nobody@zulip.com"]) {
    for (let i = 0; i < 5; i++) await attempt(server, username, "wrong");
  }
  const known = await attempt(server, "hamlet@zulip.com", PASSWORD);
  const unknown = await attempt(server, "nobody@zulip.com", PASSWORD);
  assert.equal(known.status, 429);
  assert.equal(known.work, 0);
  assert.deepEqual(unknown, known);
});

/** One web login form post; the page's status, error text and rate headers, and the work it cost. */
async function webAttempt(server: TestServer, username: string, password: string) {
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  const before = server.hasher.work;
  const res = await browser.post("/login/", { _csrf, username, password });
  return {
    status: res.statusCode,
    error: pageError(res.body),
    limit: res.headers["x-ratelimit-limit"],
    remaining: res.headers["x-ratelimit-remaining"],
    session: browser.cookies.has("sessionid"),
    work: server.hasher.work - before,
  };
}

test("the web login form: unknown, passwordless, unusable, bot and other-organization accounts read as a wrong password, at one verification each", async (t) => {
  const server = await makeTestServer({ hasher: new Argon2Hasher(FAST_ARGON2, 2) });
  t.after(() => server.close());
  const accounts = await withAccounts(server);
  const wrongPassword = await webAttempt(server, "hamlet@zulip.com", "not-the-password");
  assert.deepEqual(wrongPassword, {
    status: 401,
    error: "Your username or password is incorrect",
    limit: "5",
    remaining: "4",
    session: false,
    work: 1,
  });
  const cases: [string, string][] = [
    ["no such account", "nobody@zulip.com"],
    ["an account without a password", accounts.noPassword?.deliveryEmail as string],
    ["an imported account with Django's unusable password", accounts.unusable?.deliveryEmail as string],
    ["an account with a malformed hash", accounts.malformed?.deliveryEmail as string],
    ["a bot", accounts.bot?.deliveryEmail as string],
    ["an account of another organization", accounts.stranger?.deliveryEmail as string],
  ];
  for (const [label, username] of cases)
    assert.deepEqual(await webAttempt(server, username, "not-the-password"), wrongPassword, label);
  // Another organization's own password; the second attempt at that name, so one fewer remains.
  assert.deepEqual(
    await webAttempt(server, "Stranger@zulip.com", PASSWORD),
    { ...wrongPassword, remaining: "3" },
    "another organization's own password",
  );
  // A password over the byte cap is refused before any hashing, for every account alike.
  const huge = "p".repeat(MAX_PASSWORD_BYTES + 1);
  const real = await webAttempt(server, "iago@zulip.com", huge);
  assert.equal(real.work, 0);
  assert.equal(real.session, false);
  assert.ok(real.status >= 400 && real.status < 500, String(real.status));
  assert.deepEqual(await webAttempt(server, "missing@zulip.com", huge), real);
});
