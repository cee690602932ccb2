/** The records the rules work on, independent of how they are stored. */

/** Zulip's role values (`UserProfile.ROLE_*`). */
export const ROLE = {
  owner: 100,
  administrator: 200,
  moderator: 300,
  member: 400,
  guest: 600,
} as const;
export type RoleName = keyof typeof ROLE;
export const ROLE_NAMES = Object.keys(ROLE) as RoleName[];

/** Zulip's bot types. */
export const BOT_TYPE = { generic: 1, incomingWebhook: 2, outgoingWebhook: 3, embedded: 4 } as const;

export interface AuthMethods {
  email: boolean;
  ldap: boolean;
  dev: boolean;
  /** OpenID Connect: the identity providers of `LATCHKEY_OIDC_IDPS` that serve this organization. */
  oidc: boolean;
}

export interface Realm {
  id: number;
  /** The subdomain; "" is the root organization. */
  subdomain: string;
  name: string;
  description: string;
  deactivated: boolean;
  authMethods: AuthMethods;
  dateCreated: number;
  /** Whether a directory (LDAP) user without an account gets one on first login. */
  ldapAutoCreate: boolean;
  /**
   * Whether a person an OpenID Connect provider vouches for, without an account here, gets one
   * (when the provider's `auto_signup` is on, or they came through the sign-up link).
   */
  oidcAutoCreate: boolean;
}

export interface User {
  id: number;
  realmId: number;
  email: string;
  deliveryEmail: string;
  fullName: string;
  role: number;
  isActive: boolean;
  isBot: boolean;
  botType: number | null;
  botOwnerId: number | null;
  passwordHash: string | null;
  dateJoined: number;
  timezone: string;
  enableLoginEmails: boolean;
  twentyFourHourTime: boolean;
  avatarVersion: number;
}

export function isRealmAdmin(user: User): boolean {
  return user.role === ROLE.owner || user.role === ROLE.administrator;
}

/** A source of the current time in milliseconds; injected so throttles can be tested. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The normalized form used for case-insensitive email matching (Django's `iexact` after strip). */
export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}
