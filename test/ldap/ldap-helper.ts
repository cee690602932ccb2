/**
 * A Latchkey app configured for the test directory (test/ldap/slapd.ts), with its log kept in
 * memory so tests can see what the server wrote.
 */
import { Writable } from "node:stream";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { buildApp } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm, setRealmAuthMethods } from "../../src/domain/accounts.js";
import type { Context } from "../../src/domain/context.js";
import { setRealmLdapAutoCreate } from "../../src/domain/ldap-login.js";
import { MemoryMailer } from "../../src/domain/mailer.js";
import { type Realm, ROLE, type User } from "../../src/domain/model.js";
import { createLogger } from "../../src/logging.js";
import { generateSecrets } from "../../src/secrets.js";
import { openDatabase } from "../../src/store/database.js";
import { CountingHasher, form, ManualClock, PASSWORD, testConfig } from "../helper.js";
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd } from "./slapd.js";

/** The fixture's people and their directory passwords. */
export const PASSWORDS = {
  alice: "alice-Passw0rd",
  bob: "bob-Passw0rd",
  carol: "carol-Passw0rd",
  dave: "dave-Passw0rd",
  erin: "erin-Passw0rd",
  star: "star-Passw0rd",
  frank: "frank-Passw0rd",
  gina: "gina-Passw0rd",
} as const;

/** Login with an LDAP username or an email; emails come from the `mail` attribute. */
export function emailAttrEnv(slapd: Slapd, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LATCHKEY_LDAP_SERVER_URI: slapd.url,
    LATCHKEY_LDAP_BIND_DN: SERVICE_DN,
    LATCHKEY_LDAP_BIND_PASSWORD: SERVICE_PASSWORD,
    LATCHKEY_LDAP_USER_SEARCH_BASE: PEOPLE,
    LATCHKEY_LDAP_USERNAME_ATTR: "uid",
    LATCHKEY_LDAP_EMAIL_ATTR: "mail",
    LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH: "(mail=%(email)s)",
    LATCHKEY_LDAP_DEACTIVATED_ATTR: "employeeType",
    LATCHKEY_LDAP_DEACTIVATED_VALUES: "disabled",
    LATCHKEY_LDAP_CONNECT_TIMEOUT_MS: "2000",
    LATCHKEY_LDAP_TIMEOUT_MS: "5000",
    ...extra,
  };
}

export interface LdapTestServer {
  ctx: Context;
  realm: Realm;
  hasher: CountingHasher;
  clock: ManualClock;
  /** hamlet@zulip.com, with a password of this server (`PASSWORD`). */
  hamlet: User;
  log: string[];
  /** Every email the server sent. */
  mailer: MemoryMailer;
  /** POST fetch_api_key; the clock moves on first so the username throttle never interferes. */
  login(username: string, password: string): Promise<LoginOutcome>;
  app: FastifyInstance;
  setMethods(methods: { email?: boolean; ldap?: boolean; autoCreate?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface LoginOutcome {
  res: LightMyRequestResponse;
  status: number;
  body: Record<string, unknown>;
  /** Password verifications this attempt cost. */
  work: number;
}

export async function makeLdapServer(env: Record<string, string>): Promise<LdapTestServer> {
  const config = testConfig("development", env);
  const database = await openDatabase(":memory:");
  const clock = new ManualClock();
  const hasher = new CountingHasher();
  const log: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log.push(
        ...chunk
          .toString("utf8")
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  const logger = createLogger("info", stream);
  const mailer = new MemoryMailer();
  const ctx = createContext({ config, database, secrets: generateSecrets(), hasher, clock, log: logger, mailer });
  const app = await buildApp({ config, ctx, logger });
  const realm = await createRealm(ctx, { subdomain: "", name: "Example" });
  await setRealmAuthMethods(ctx, realm.id, { email: false, ldap: true });
  const { user: hamlet } = await createAccount(ctx, {
    realmId: realm.id,
    email: "hamlet@zulip.com",
    fullName: "King Hamlet",
    role: ROLE.member,
    password: PASSWORD,
  });
  const server: LdapTestServer = {
    ctx,
    realm,
    hasher,
    clock,
    hamlet,
    log,
    mailer,
    app,
    async login(username, password) {
      clock.advance(3600);
      const before = hasher.work;
      const res = await app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username, password }) });
      return { res, status: res.statusCode, body: res.json() as Record<string, unknown>, work: hasher.work - before };
    },
    async setMethods({ email, ldap, autoCreate }) {
      await setRealmAuthMethods(ctx, realm.id, { email, ldap });
      if (autoCreate !== undefined) await setRealmLdapAutoCreate(ctx, realm.id, autoCreate);
      server.realm = (await ctx.stores.realms.findById(realm.id)) as Realm;
    },
    close: async () => {
      await app.close();
      await database.close();
    },
  };
  return server;
}

export const AUTH_FAILED = { result: "error", msg: "Your username or password is incorrect", code: "AUTHENTICATION_FAILED" };
export const DEACTIVATED = { result: "error", msg: "Account is deactivated", code: "USER_DEACTIVATED" };
export const UNAVAILABLE = {
  result: "error",
  msg: "LDAP login is temporarily unavailable; please try again later.",
  code: "SERVICE_UNAVAILABLE",
};
