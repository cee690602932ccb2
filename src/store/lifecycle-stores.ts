/** Kysely repositories for the key lifecycle: push tokens, audit log, key use, bot services. */
import type { Kysely, Transaction } from "kysely";
import type {
  AuditEvent,
  AuditLogStore,
  BotService,
  BotServiceStore,
  KeyUse,
  KeyUseRecord,
  KeyUseStore,
  PushDeviceStore,
  StoredAuditEvent,
} from "../domain/ports.js";
import type { Database } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

export class KyselyPushDeviceStore implements PushDeviceStore {
  constructor(private readonly db: Db) {}

  async add(userId: number, kind: number, token: string, iosAppId: string | null, now: number): Promise<void> {
    await this.db
      .insertInto("push_device_tokens")
      .values({ user_id: userId, kind, token, ios_app_id: iosAppId, date_created: now })
      .onConflict((oc) => oc.columns(["user_id", "kind", "token"]).doNothing())
      .execute();
  }

  async remove(userId: number, kind: number, token: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("push_device_tokens")
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .where("token", "=", token)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async removeAll(userId: number): Promise<number> {
    const result = await this.db.deleteFrom("push_device_tokens").where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async list(userId: number): Promise<{ kind: number; token: string; iosAppId: string | null }[]> {
    const rows = await this.db
      .selectFrom("push_device_tokens")
      .select(["kind", "token", "ios_app_id"])
      .where("user_id", "=", userId)
      .orderBy("id")
      .execute();
    return rows.map((r) => ({ kind: r.kind, token: r.token, iosAppId: r.ios_app_id }));
  }
}

export class KyselyAuditLogStore implements AuditLogStore {
  constructor(private readonly db: Db) {}

  async add(event: AuditEvent): Promise<void> {
    await this.db
      .insertInto("audit_log")
      .values({
        realm_id: event.realmId,
        acting_user_id: event.actingUserId,
        modified_user_id: event.modifiedUserId,
        event_type: event.eventType,
        event_time: event.eventTime,
        ip: event.ip,
        client: event.client,
        extra_data: JSON.stringify(event.extra ?? {}),
      })
      .execute();
  }

  async list(realmId: number, limit: number): Promise<StoredAuditEvent[]> {
    const rows = await this.db
      .selectFrom("audit_log")
      .selectAll()
      .where("realm_id", "=", realmId)
      .orderBy("event_time", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      realmId: r.realm_id,
      actingUserId: r.acting_user_id,
      modifiedUserId: r.modified_user_id,
      eventType: r.event_type,
      eventTime: Number(r.event_time),
      ip: r.ip,
      client: r.client,
      extra: JSON.parse(r.extra_data) as Record<string, unknown>,
    }));
  }
}

export class KyselyKeyUseStore implements KeyUseStore {
  constructor(private readonly db: Db) {}

  async recordMany(uses: KeyUseRecord[]): Promise<void> {
    if (uses.length === 0) return;
    await this.db
      .insertInto("api_key_last_use")
      .values(
        uses.map(({ userId, keyDigest, use }) => ({
          key_digest: keyDigest,
          user_id: userId,
          used_at: use.usedAt,
          ip: use.ip,
          client: use.client,
        })),
      )
      .onConflict((oc) =>
        oc.column("key_digest").doUpdateSet((eb) => ({
          used_at: eb.ref("excluded.used_at"),
          ip: eb.ref("excluded.ip"),
          client: eb.ref("excluded.client"),
        })),
      )
      .execute();
  }

  async find(keyDigest: string): Promise<KeyUse | null> {
    const row = await this.db
      .selectFrom("api_key_last_use")
      .select(["used_at", "ip", "client"])
      .where("key_digest", "=", keyDigest)
      .executeTakeFirst();
    return row ? { usedAt: Number(row.used_at), ip: row.ip, client: row.client } : null;
  }

  async forgetOthers(userId: number, keepDigest: string): Promise<void> {
    await this.db.deleteFrom("api_key_last_use").where("user_id", "=", userId).where("key_digest", "!=", keepDigest).execute();
  }
}

export class KyselyBotServiceStore implements BotServiceStore {
  constructor(private readonly db: Db) {}

  async add(botUserId: number, service: BotService): Promise<void> {
    await this.db
      .insertInto("bot_services")
      .values({
        bot_user_id: botUserId,
        base_url: service.baseUrl,
        interface: service.interface,
        token_digest: service.token.digest,
        token_sealed: service.token.sealed,
      })
      .execute();
  }

  async find(botUserId: number): Promise<BotService | null> {
    const row = await this.db
      .selectFrom("bot_services")
      .selectAll()
      .where("bot_user_id", "=", botUserId)
      .orderBy("id")
      .executeTakeFirst();
    return row
      ? { baseUrl: row.base_url, interface: row.interface, token: { digest: row.token_digest, sealed: row.token_sealed } }
      : null;
  }
}
