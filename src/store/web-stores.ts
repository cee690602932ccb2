/** Kysely repositories for web sessions and one-time tokens (SQLite and PostgreSQL alike). */
import type { Kysely, Transaction } from "kysely";
import type { OneTimeToken, OneTimeTokenKind, OneTimeTokenStore, SessionStore, WebSession } from "../domain/web-ports.js";
import type { Database } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Db) {}

  async create(session: WebSession): Promise<void> {
    await this.db
      .insertInto("web_sessions")
      .values({
        id_hash: session.idHash,
        user_id: session.userId,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      .execute();
  }

  async find(idHash: string): Promise<WebSession | null> {
    const row = await this.db.selectFrom("web_sessions").selectAll().where("id_hash", "=", idHash).executeTakeFirst();
    if (row === undefined) return null;
    return {
      idHash: row.id_hash,
      userId: row.user_id,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom("web_sessions").where("id_hash", "=", idHash).execute();
  }

  async deleteForUser(userId: number, exceptIdHash?: string): Promise<void> {
    let query = this.db.deleteFrom("web_sessions").where("user_id", "=", userId);
    if (exceptIdHash !== undefined) query = query.where("id_hash", "<>", exceptIdHash);
    await query.execute();
  }

  async deleteForRealm(realmId: number): Promise<void> {
    await this.db
      .deleteFrom("web_sessions")
      .where("user_id", "in", (eb) => eb.selectFrom("users").select("id").where("realm_id", "=", realmId))
      .execute();
  }

  async deleteExpired(now: number): Promise<void> {
    await this.db.deleteFrom("web_sessions").where("expires_at", "<", now).execute();
  }
}

export class KyselyOneTimeTokenStore implements OneTimeTokenStore {
  constructor(private readonly db: Db) {}

  async create(token: OneTimeToken): Promise<void> {
    await this.db
      .insertInto("one_time_tokens")
      .values({
        token_hash: token.tokenHash,
        kind: token.kind,
        user_id: token.userId,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
      })
      .execute();
  }

  async peek(tokenHash: string, kind: OneTimeTokenKind, now: number): Promise<OneTimeToken | null> {
    const row = await this.db
      .selectFrom("one_time_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .where("kind", "=", kind)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    if (row === undefined) return null;
    return {
      tokenHash: row.token_hash,
      kind: row.kind as OneTimeTokenKind,
      userId: row.user_id,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async consume(tokenHash: string, kind: OneTimeTokenKind, now: number): Promise<OneTimeToken | null> {
    const token = await this.peek(tokenHash, kind, now);
    if (token === null) return null;
    // The delete decides: of two requests racing with one token, only one deletes a row.
    const result = await this.db
      .deleteFrom("one_time_tokens")
      .where("token_hash", "=", tokenHash)
      .where("kind", "=", kind)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1 ? token : null;
  }

  async deleteForUser(userId: number, kind?: OneTimeTokenKind): Promise<void> {
    let query = this.db.deleteFrom("one_time_tokens").where("user_id", "=", userId);
    if (kind !== undefined) query = query.where("kind", "=", kind);
    await query.execute();
  }

  async deleteForRealm(realmId: number): Promise<void> {
    await this.db
      .deleteFrom("one_time_tokens")
      .where("user_id", "in", (eb) => eb.selectFrom("users").select("id").where("realm_id", "=", realmId))
      .execute();
  }
}
