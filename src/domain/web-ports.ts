/** Storage ports for the web app: browser sessions and one-time tokens (password resets, desktop logins). */

export interface WebSession {
  /** SHA-256 of the session id the browser holds; the id itself is never stored. */
  idHash: string;
  userId: number;
  createdAt: number;
  expiresAt: number;
}

export interface SessionStore {
  create(session: WebSession): Promise<void>;
  find(idHash: string): Promise<WebSession | null>;
  delete(idHash: string): Promise<void>;
  /** Ends every session of a user, but the one named by `exceptIdHash` when given. */
  deleteForUser(userId: number, exceptIdHash?: string): Promise<void>;
  /** Ends every session of every account of an organization. */
  deleteForRealm(realmId: number): Promise<void>;
  /** Forgets sessions that expired before `now`. */
  deleteExpired(now: number): Promise<void>;
}

/** What a one-time token is for. */
export type OneTimeTokenKind = "password_reset" | "desktop_login";

export interface OneTimeToken {
  /** SHA-256 of the token sent to the user; the token itself is never stored. */
  tokenHash: string;
  kind: OneTimeTokenKind;
  userId: number;
  createdAt: number;
  expiresAt: number;
}

export interface OneTimeTokenStore {
  create(token: OneTimeToken): Promise<void>;
  /** The unexpired token, without using it up. */
  peek(tokenHash: string, kind: OneTimeTokenKind, now: number): Promise<OneTimeToken | null>;
  /**
   * Uses the token up: deletes it and returns it when it existed, was of this kind and had not
   * expired. Of two concurrent calls exactly one gets the token.
   */
  consume(tokenHash: string, kind: OneTimeTokenKind, now: number): Promise<OneTimeToken | null>;
  /** Deletes a user's tokens of this kind, or of every kind (a used reset link takes the others with it). */
  deleteForUser(userId: number, kind?: OneTimeTokenKind): Promise<void>;
  /** Deletes every token of every account of an organization. */
  deleteForRealm(realmId: number): Promise<void>;
}
