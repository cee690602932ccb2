/**
 * The audit log (Zulip's `RealmAuditLog`): who changed what, when, from which address and
 * client. Event type numbers are Zulip's `AuditLogEventType` values.
 */
import type { Context } from "./context.js";
import type { User } from "./model.js";
import type { Stores } from "./ports.js";

export const AUDIT_EVENT = {
  USER_CREATED: 101,
  USER_DEACTIVATED: 103,
  USER_REACTIVATED: 104,
  USER_ROLE_CHANGED: 105,
  USER_API_KEY_CHANGED: 127,
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENT;

/** The name of an event type number, or the number itself when it is not one of ours. */
export function auditEventName(eventType: number): string {
  for (const [name, value] of Object.entries(AUDIT_EVENT)) if (value === eventType) return name;
  return String(eventType);
}

/** Where a change came from: the request's address and client, or null for the CLI. */
export interface ChangeSource {
  ip: string | null;
  client: string | null;
}

export const CLI_SOURCE: ChangeSource = { ip: null, client: "latchkey-cli" };

/** Writes one event about `modified` (in the stores given, so it joins their transaction). */
export async function recordAuditEvent(
  ctx: Context,
  stores: Stores,
  event: { type: AuditEventName; acting: User | null; modified: User; source: ChangeSource; extra?: Record<string, unknown> },
): Promise<void> {
  await stores.auditLog.add({
    realmId: event.modified.realmId,
    actingUserId: event.acting?.id ?? null,
    modifiedUserId: event.modified.id,
    eventType: AUDIT_EVENT[event.type],
    eventTime: ctx.clock.now(),
    ip: event.source.ip,
    client: event.source.client,
    ...(event.extra === undefined ? {} : { extra: event.extra }),
  });
}
