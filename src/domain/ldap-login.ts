/**
 * LDAP login (docs/zulip-rules.md §4.3): Zulip's ZulipLDAPAuthBackend over a directory port. The username the
 * client sent is mapped to an LDAP username (APPEND_DOMAIN, or a reverse email search), the
 * user is found with the user search, the organization-membership restriction is checked, and
 * the password is checked by binding as the user. Then the account: found by its email,
 * created on first login when the organization allows it, deactivated when the directory has
 * disabled the person, and its full name kept as the directory has it.
 */
import { AccountError, createAccount, setAccountActive } from "./accounts.js";
import type { AuthFlag, Context, ExternalPasswordBackend, PasswordAttempt } from "./context.js";
import { isValidEmail } from "./email.js";
import type { Realm, User } from "./model.js";

/** One directory entry; attribute names lower-cased. */
export interface DirectoryPerson {
  dn: string;
  attributes: Record<string, string[]>;
}

/** A connection to the directory, bound as the service account. */
export interface DirectorySession {
  /** The entries the user search finds for this LDAP username (at most two are returned). */
  findUser(username: string): Promise<DirectoryPerson[]>;
  /** The entries the reverse email search finds for this email (at most two are returned). */
  findUserByEmail(email: string): Promise<DirectoryPerson[]>;
  isMember(groupDn: string, personDn: string): Promise<boolean>;
  /** Binds as `dn`; false when the directory says the password is wrong. Never binds with "". */
  checkPassword(dn: string, password: string): Promise<boolean>;
}

/** The directory could not be asked: unreachable, too slow, or refusing the service account. */
export class DirectoryUnavailableError extends Error {
  override name = "DirectoryUnavailableError";
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

export interface LdapDirectory {
  session<T>(work: (session: DirectorySession) => Promise<T>): Promise<T>;
}

/** How usernames and attributes map to accounts (the LDAP part of `LdapConfig`). */
export interface LdapRules {
  usernameAttr: string | null;
  appendDomain: string | null;
  emailAttr: string | null;
  fullNameAttr: string;
  requireGroup: string | null;
  deactivatedAttr: string | null;
  deactivatedValues: string[];
}

/** What a successful bind told us about the person. */
interface DirectoryLogin {
  email: string;
  fullName: string | null;
  disabled: boolean;
}

const MAX_FULL_NAME = 100;

function firstValue(person: DirectoryPerson, attribute: string | null): string | null {
  if (attribute === null) return null;
  const value = person.attributes[attribute.toLowerCase()]?.[0];
  return value === undefined || value === "" ? null : value;
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1).toLowerCase();
}

export class LdapBackend implements ExternalPasswordBackend {
  readonly name = "ldap";
  readonly configured = true;
  /** §4.3: usernames need not be emails when the email comes from APPEND_DOMAIN or EMAIL_ATTR. */
  readonly requiresEmailUsernames: boolean;

  constructor(
    private readonly directory: LdapDirectory,
    private readonly rules: LdapRules,
  ) {
    this.requiresEmailUsernames = rules.appendDomain === null && rules.emailAttr === null;
  }

  async authenticate(ctx: Context, attempt: PasswordAttempt, flags: Set<AuthFlag>): Promise<User | null> {
    // Never bind with an empty password: it would be an unauthenticated bind, which succeeds.
    if (attempt.password === "") return null;
    let login: DirectoryLogin | null;
    try {
      login = await this.directory.session((session) => this.checkInDirectory(ctx, session, attempt, flags));
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError)) throw err;
      ctx.log.error({ err, realm: attempt.realm.subdomain }, "LDAP directory unavailable; login refused");
      flags.add("ldap_unavailable");
      return null;
    }
    if (login === null) return null;
    return this.accountFor(ctx, attempt.realm, login, flags);
  }

  async managesEmail(email: string): Promise<boolean> {
    if (this.rules.appendDomain !== null) return domainOf(email) === this.rules.appendDomain;
    return (await this.directory.session((session) => session.findUserByEmail(email))).length > 0;
  }

  /** With LDAP_APPEND_DOMAIN, `alice` and `alice@<domain>` are one person, so one login budget. */
  accountName(canonicalName: string): string {
    const { appendDomain } = this.rules;
    return appendDomain !== null && !canonicalName.includes("@") ? `${canonicalName}@${appendDomain}` : canonicalName;
  }

  /** Zulip's `django_to_ldap_username`: the LDAP username, or null with the flag that says why. */
  private async ldapUsername(
    ctx: Context,
    session: DirectorySession,
    username: string,
    flags: Set<AuthFlag>,
  ): Promise<string | null> {
    const { appendDomain } = this.rules;
    if (appendDomain !== null) {
      if (!isValidEmail(username)) return username;
      if (domainOf(username) !== appendDomain) {
        flags.add("outside_ldap_domain");
        return null;
      }
      return username.slice(0, username.lastIndexOf("@"));
    }
    if (!isValidEmail(username)) return username;
    const found = await session.findUserByEmail(username);
    if (found.length === 0) {
      flags.add("no_matching_ldap_user");
      return null;
    }
    if (found.length > 1) {
      // As Zulip: several entries share the address, so the input itself is tried as a username.
      ctx.log.warn({ matches: found.length }, "LDAP reverse email search matched more than one entry");
      return username;
    }
    const [person] = found as [DirectoryPerson];
    const name = firstValue(person, this.rules.usernameAttr);
    if (name === null) {
      ctx.log.warn({ dn: person.dn }, "LDAP entry has no username attribute");
      flags.add("no_matching_ldap_user");
    }
    return name;
  }

  private async checkInDirectory(
    ctx: Context,
    session: DirectorySession,
    attempt: PasswordAttempt,
    flags: Set<AuthFlag>,
  ): Promise<DirectoryLogin | null> {
    const username = await this.ldapUsername(ctx, session, attempt.username, flags);
    if (username === null) return null;
    const people = await session.findUser(username);
    if (people.length !== 1) {
      if (people.length > 1) ctx.log.warn({ matches: people.length }, "LDAP user search matched more than one entry");
      flags.add("no_matching_ldap_user");
      return null;
    }
    const [person] = people as [DirectoryPerson];
    const { appendDomain, emailAttr } = this.rules;
    const email =
      appendDomain !== null ? `${username}@${appendDomain}` : emailAttr !== null ? firstValue(person, emailAttr) : username;
    if (email === null || !isValidEmail(email)) {
      ctx.log.warn({ dn: person.dn }, "LDAP entry yields no valid email address");
      flags.add("no_matching_ldap_user");
      return null;
    }
    if (this.rules.requireGroup !== null && !(await session.isMember(this.rules.requireGroup, person.dn))) return null;
    if (!(await session.checkPassword(person.dn, attempt.password))) return null;
    return {
      email,
      fullName: firstValue(person, this.rules.fullNameAttr)?.trim().slice(0, MAX_FULL_NAME) || null,
      disabled: this.isDisabled(person),
    };
  }

  /**
   * Whether the directory marks the person disabled: Active Directory's `userAccountControl`
   * by its ACCOUNTDISABLE bit (2), as Zulip reads it; any other attribute by its values.
   */
  private isDisabled(person: DirectoryPerson): boolean {
    const attribute = this.rules.deactivatedAttr;
    const marker = firstValue(person, attribute);
    if (attribute === null || marker === null) return false;
    if (attribute.toLowerCase() === "useraccountcontrol") return /^\d+$/.test(marker) && (Number(marker) & 2) !== 0;
    return this.rules.deactivatedValues.includes(marker.toLowerCase());
  }

  /** Zulip's `get_or_build_user`, after the password bound. */
  private async accountFor(ctx: Context, realm: Realm, login: DirectoryLogin, flags: Set<AuthFlag>): Promise<User | null> {
    let user = await ctx.stores.users.findByDeliveryEmail(realm.id, login.email);
    if (login.disabled) {
      if (user?.isActive) {
        await setAccountActive(ctx, user.id, false);
        ctx.log.warn({ userId: user.id, realm: realm.subdomain }, "account deactivated: disabled in the LDAP directory");
      }
      if (user !== null) flags.add("inactive_user");
      return null;
    }
    if (realm.deactivated) {
      flags.add("inactive_realm");
      return null;
    }
    if (user === null) {
      if (!realm.ldapAutoCreate) return null;
      user = await createLdapAccount(ctx, realm, login);
      if (user === null) return null;
    }
    if (!user.isActive) {
      flags.add("inactive_user");
      return null;
    }
    if (user.isBot) return null;
    if (login.fullName !== null && login.fullName !== user.fullName) {
      user = (await ctx.stores.users.update(user.id, { fullName: login.fullName })) ?? user;
      // Cached answers for the user's key carry the old name.
      ctx.keyCache.invalidate({ kind: "user", userId: user.id });
    }
    return user;
  }
}

async function createLdapAccount(ctx: Context, realm: Realm, login: DirectoryLogin): Promise<User | null> {
  try {
    const { user } = await createAccount(ctx, {
      realmId: realm.id,
      email: login.email,
      fullName: login.fullName ?? login.email.slice(0, login.email.indexOf("@")),
      // The directory keeps the password; the account has none of its own.
      password: null,
    });
    ctx.log.warn({ userId: user.id, realm: realm.subdomain }, "account created from the LDAP directory");
    return user;
  } catch (err) {
    if (!(err instanceof AccountError)) throw err;
    // Two first logins at once: the other one created it.
    return ctx.stores.users.findByDeliveryEmail(realm.id, login.email);
  }
}

/** Turns account creation on first LDAP login on or off for an organization. */
export async function setRealmLdapAutoCreate(ctx: Context, realmId: number, on: boolean): Promise<Realm> {
  const realm = await ctx.stores.realms.update(realmId, { ldapAutoCreate: on });
  if (realm === null) throw new AccountError(`no organization with id ${realmId}`);
  ctx.keyCache.invalidate({ kind: "realm", realmId });
  return realm;
}
