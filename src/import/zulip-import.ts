/**
 * Brings a Zulip organization's accounts into Latchkey (the accounts part of Zulip's
 * `import_realm`): the organization, its people with their roles and active flags, and its bots
 * with their owners, in one transaction. Django password hashes are kept as they are (the hasher
 * verifies Django's argon2 and PBKDF2 formats and re-hashes on the next login) and API keys are
 * kept, sealed like every key, so bots go on working; outgoing-webhook bots keep their service
 * (URL and token). What is already here (the organization by
 * subdomain, accounts by email) is left untouched, so running an import twice changes nothing.
 */
import { AccountError, createRealm } from "../domain/accounts.js";
import { generateApiKey } from "../domain/api-key.js";
import type { Context } from "../domain/context.js";
import type { Realm, User } from "../domain/model.js";
import type { Stores } from "../domain/ports.js";
import { type ExportedService, type ExportedUser, type ZulipExport, ZulipExportError } from "./zulip-export-format.js";

export interface ImportOptions {
  /** The subdomain to import into; the export's `string_id` when absent. */
  subdomain?: string;
  /** Called after each account is looked at, with how many of how many are done. */
  onProgress?: (done: number, total: number) => void;
}

export interface ImportSummary {
  realm: { name: string; subdomain: string; created: boolean };
  users: { imported: number; present: number; deactivated: number };
  bots: { imported: number; present: number };
  passwords: { kept: number; unusable: number };
  keys: { kept: number; generated: number };
}

/** Whether the login check can verify this Django hash (Zulip's `PASSWORD_HASHERS`: Argon2, then PBKDF2). */
export function isUsableDjangoHash(hash: string | null | undefined): hash is string {
  return typeof hash === "string" && (hash.startsWith("argon2$argon2") || hash.startsWith("pbkdf2_sha256$"));
}

/** Bots after the accounts that own them, otherwise in the export's order. */
function ownersFirst(users: ZulipExport["users"]): ZulipExport["users"] {
  const byId = new Map(users.map((u) => [u.id, u]));
  const placed = new Set<number>();
  const visiting = new Set<number>();
  const out: ZulipExport["users"] = [];
  const place = (user: ZulipExport["users"][number]): void => {
    if (placed.has(user.id)) return;
    if (visiting.has(user.id)) {
      throw new ZulipExportError(`realm.json: zerver_userprofile[${user.index}].bot_owner: the bots own each other in a circle`);
    }
    visiting.add(user.id);
    const owner = user.bot_owner === null ? undefined : byId.get(user.bot_owner);
    if (owner !== undefined) place(owner);
    visiting.delete(user.id);
    placed.add(user.id);
    out.push(user);
  };
  for (const user of users) place(user);
  return out;
}

async function findOrCreateRealm(ctx: Context, stores: Stores, data: ZulipExport, subdomain: string, fromOption: boolean) {
  const existing = await stores.realms.findBySubdomain(subdomain.trim().toLowerCase());
  if (existing !== null) return { realm: existing, created: false };
  // The organization keeps the creation date it had on Zulip.
  const created = { now: () => Math.round(data.realm.date_created * 1000) };
  let realm: Realm;
  try {
    realm = await createRealm(
      { ...ctx, stores, clock: created },
      { subdomain, name: data.realm.name, description: data.realm.description },
    );
  } catch (err) {
    if (err instanceof AccountError) {
      throw new AccountError(fromOption ? `--realm: ${err.message}` : `realm.json: zerver_realm[0].string_id: ${err.message}`);
    }
    throw err;
  }
  // As Zulip's importer does, the organization is as active as the export says.
  if (data.realm.deactivated) realm = (await stores.realms.update(realm.id, { deactivated: true })) ?? realm;
  return { realm, created: true };
}

async function createImportedUser(
  ctx: Context,
  stores: Stores,
  realm: Realm,
  user: ExportedUser & { index: number },
  ownerId: number | null,
  service: ExportedService | undefined,
  summary: ImportSummary,
): Promise<User> {
  const apiKey = typeof user.api_key === "string" ? user.api_key : generateApiKey();
  const sealed = ctx.vault.seal(apiKey);
  // Checked before the insert: on PostgreSQL a failed statement would abort the transaction.
  if ((await stores.users.findByApiKeyDigest(sealed.digest)) !== null) {
    throw new ZulipExportError(
      `realm.json: zerver_userprofile[${user.index}].api_key: already the API key of another account on this server`,
    );
  }
  const passwordHash = isUsableDjangoHash(user.password) ? user.password : null;
  let created = await stores.users.create(
    {
      realmId: realm.id,
      email: user.email.trim(),
      deliveryEmail: user.delivery_email.trim(),
      fullName: user.full_name.trim(),
      role: user.role,
      isBot: user.is_bot,
      botType: user.bot_type,
      botOwnerId: ownerId,
      passwordHash,
      apiKey: sealed,
      timezone: user.timezone,
      defaultAllPublicStreams: user.default_all_public_streams ?? false,
    },
    Math.round(user.date_joined * 1000),
  );
  // An outgoing-webhook bot keeps its service: where it posts, and the token the receiver knows.
  if (service !== undefined) {
    await stores.botServices.add(created.id, {
      baseUrl: service.base_url,
      interface: service.interface,
      token: ctx.vault.seal(service.token),
    });
  }
  if (!user.is_active) created = (await stores.users.update(created.id, { isActive: false })) ?? created;
  if (user.is_bot) summary.bots.imported++;
  else {
    summary.users.imported++;
    if (passwordHash === null) summary.passwords.unusable++;
    else summary.passwords.kept++;
  }
  if (!user.is_active) summary.users.deactivated++;
  if (typeof user.api_key === "string") summary.keys.kept++;
  else summary.keys.generated++;
  return created;
}

/**
 * Imports the export's organization and accounts in one transaction: on any error nothing is
 * stored. Accounts already in the organization (matched by email) are counted and left alone.
 */
export async function importZulipExport(ctx: Context, data: ZulipExport, options: ImportOptions = {}): Promise<ImportSummary> {
  const fromOption = options.subdomain !== undefined;
  const subdomain = options.subdomain ?? data.realm.string_id;
  const ordered = ownersFirst(data.users);
  const summary = await ctx.stores.transaction(async (stores) => {
    const { realm, created } = await findOrCreateRealm(ctx, stores, data, subdomain, fromOption);
    const summary: ImportSummary = {
      realm: { name: realm.name, subdomain: realm.subdomain, created },
      users: { imported: 0, present: 0, deactivated: 0 },
      bots: { imported: 0, present: 0 },
      passwords: { kept: 0, unusable: 0 },
      keys: { kept: 0, generated: 0 },
    };
    /** Zulip's user ids to ours. */
    const ids = new Map<number, number>();
    let done = 0;
    for (const user of ordered) {
      const existing = await stores.users.findByDeliveryEmail(realm.id, user.delivery_email.trim());
      if (existing !== null) {
        ids.set(user.id, existing.id);
        if (user.is_bot) summary.bots.present++;
        else summary.users.present++;
      } else {
        const ownerId = user.bot_owner === null ? null : (ids.get(user.bot_owner) ?? null);
        ids.set(user.id, (await createImportedUser(ctx, stores, realm, user, ownerId, data.services.get(user.id), summary)).id);
      }
      options.onProgress?.(++done, ordered.length);
    }
    return { summary, realmId: realm.id };
  });
  // Nothing cached can name these accounts yet; dropping the organization's entries is cheap insurance.
  ctx.keyCache.invalidate({ kind: "realm", realmId: summary.realmId });
  return summary.summary;
}

/** Whether the import stored nothing: every account and the organization were already here. */
export function changedNothing(summary: ImportSummary): boolean {
  return !summary.realm.created && summary.users.imported === 0 && summary.bots.imported === 0;
}
