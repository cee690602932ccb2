/**
 * What Latchkey reads from a Zulip data export (`./manage.py export`), and the checks that turn
 * its `realm.json` into typed records. `realm.json` holds one object of tables, each a list of
 * rows written by Django's `model_to_dict` (Zulip's `zerver/lib/export.py`): foreign keys as
 * ids (`realm`, `bot_owner`), times as float seconds since the epoch. Zulip's own exporter
 * leaves out `password` and `api_key` (its `EXCLUDED_USER_PROFILE_FIELDS`); rows that carry
 * them (an export made from a database copy) keep them, rows that do not get an unusable
 * password and a new key, as Zulip's importer gives every account.
 *
 * The field lists below are the whole contract: the validator reads nothing else, and the
 * fixture test checks that every field named here is present in the fixture.
 */
import { AccountError } from "../domain/accounts.js";
import { isValidEmail } from "../domain/email.js";
import { BOT_TYPE, ROLE } from "../domain/model.js";

export const EXPORT_FILE = "realm.json";

type Kind = "integer" | "string" | "boolean" | "number";

/** One field of a row: its JSON type, whether it may be null, and whether a row may lack it. */
export interface FieldSpec {
  name: string;
  kind: Kind;
  nullable: boolean;
  /** Whether a row may lack the field (Zulip's exporter leaves `password` and `api_key` out). */
  optional: boolean;
  /** One-line problem with a present, well-typed value, or null when it is fine. */
  check?: (value: never) => string | null;
}

const ROLES: number[] = Object.values(ROLE);
const BOT_TYPES: number[] = Object.values(BOT_TYPE);

const oneOf =
  (allowed: number[]) =>
  (value: number): string | null =>
    allowed.includes(value) ? null : `must be one of ${allowed.join(", ")} (got ${value})`;

const email = (value: string): string | null =>
  isValidEmail(value.trim()) ? null : `not an email address: ${JSON.stringify(value)}`;

const fullName = (value: string): string | null =>
  value.trim() !== "" && value.trim().length <= 100 ? null : "must be 1 to 100 characters";

const field = (name: string, kind: Kind, extra: Partial<Omit<FieldSpec, "name" | "kind">> = {}): FieldSpec => ({
  name,
  kind,
  nullable: false,
  optional: false,
  ...extra,
});

/** The fields of the organization's row (`zerver_realm[0]`, Zulip's `Realm`). */
export const REALM_FIELDS: readonly FieldSpec[] = [
  field("id", "integer"),
  /** The subdomain; "" is the root organization. */
  field("string_id", "string"),
  field("name", "string", { check: fullName as FieldSpec["check"] }),
  field("description", "string"),
  field("deactivated", "boolean"),
  field("date_created", "number"),
];

/** The fields of each account's row (`zerver_userprofile[i]`, Zulip's `UserProfile`). */
export const USER_FIELDS: readonly FieldSpec[] = [
  field("id", "integer"),
  field("realm", "integer"),
  /** The address others see; differs from `delivery_email` when addresses are hidden. */
  field("email", "string", { check: email as FieldSpec["check"] }),
  field("delivery_email", "string", { check: email as FieldSpec["check"] }),
  field("full_name", "string", { check: fullName as FieldSpec["check"] }),
  field("role", "integer", { check: oneOf(ROLES) as FieldSpec["check"] }),
  field("is_active", "boolean"),
  field("is_bot", "boolean"),
  field("bot_type", "integer", { nullable: true, check: oneOf(BOT_TYPES) as FieldSpec["check"] }),
  field("bot_owner", "integer", { nullable: true }),
  field("date_joined", "number"),
  field("timezone", "string"),
  /** A Django password hash; "!..." or null is Django's unusable password. */
  field("password", "string", { nullable: true, optional: true }),
  field("api_key", "string", { nullable: true, optional: true }),
  /** Bots: whether the bot follows every public channel (shown with the owner's bots). */
  field("default_all_public_streams", "boolean", { optional: true }),
];

/** The fields of an outgoing-webhook bot's service (`zerver_service[i]`, Zulip's `Service`). */
export const SERVICE_FIELDS: readonly FieldSpec[] = [
  field("id", "integer"),
  /** The bot's account id. */
  field("user_profile", "integer"),
  field("base_url", "string"),
  /** The token the bot's posts carry, so the receiving end knows them. */
  field("token", "string", { check: ((v: string) => (v === "" ? "must not be empty" : null)) as FieldSpec["check"] }),
  /** Zulip's `Service.interface`: 1 generic, 2 Slack-compatible. */
  field("interface", "integer", { check: oneOf([1, 2]) as FieldSpec["check"] }),
];

export interface ExportedRealm {
  id: number;
  string_id: string;
  name: string;
  description: string;
  deactivated: boolean;
  date_created: number;
}

export interface ExportedUser {
  id: number;
  realm: number;
  email: string;
  delivery_email: string;
  full_name: string;
  role: number;
  is_active: boolean;
  is_bot: boolean;
  bot_type: number | null;
  bot_owner: number | null;
  date_joined: number;
  timezone: string;
  password?: string | null;
  api_key?: string | null;
  default_all_public_streams?: boolean;
}

export interface ExportedService {
  id: number;
  user_profile: number;
  base_url: string;
  token: string;
  interface: number;
}

export interface ZulipExport {
  realm: ExportedRealm;
  /** In the export's order; `index` is the row's position in `zerver_userprofile`. */
  users: (ExportedUser & { index: number })[];
  /** Outgoing-webhook bots' services by the bot's id in the export (`zerver_service`, when the export has it). */
  services: Map<number, ExportedService>;
}

/** Malformed input: the message names the file and the field (`realm.json: zerver_userprofile[3].email: missing`). */
export class ZulipExportError extends AccountError {
  override name = "ZulipExportError";
}

function fail(where: string, problem: string): never {
  throw new ZulipExportError(`${EXPORT_FILE}: ${where}: ${problem}`);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function hasKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case "integer":
      return Number.isSafeInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
  }
}

const KIND_WORDS: Record<Kind, string> = {
  integer: "a whole number",
  number: "a number",
  string: "a string",
  boolean: "true or false",
};

/** Checks one row against its fields and returns just those fields. */
function readRow<T>(row: unknown, where: string, fields: readonly FieldSpec[]): T {
  if (typeof row !== "object" || row === null || Array.isArray(row)) fail(where, `must be an object, not ${kindOf(row)}`);
  const record = row as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const spec of fields) {
    const at = `${where}.${spec.name}`;
    if (!Object.hasOwn(record, spec.name)) {
      if (spec.optional) continue;
      fail(at, "missing");
    }
    const value = record[spec.name];
    if (value === null) {
      if (!spec.nullable) fail(at, `must be ${KIND_WORDS[spec.kind]}, not null`);
    } else {
      if (!hasKind(value, spec.kind)) fail(at, `must be ${KIND_WORDS[spec.kind]}, not ${kindOf(value)}`);
      const problem = spec.check?.(value as never) ?? null;
      if (problem !== null) fail(at, problem);
    }
    out[spec.name] = value;
  }
  return out as T;
}

function readTable(data: Record<string, unknown>, table: string): unknown[] {
  if (!Object.hasOwn(data, table)) fail(table, "missing");
  const rows = data[table];
  if (!Array.isArray(rows)) fail(table, `must be a list, not ${kindOf(rows)}`);
  return rows;
}

/** Checks the relations between rows: unique ids, emails and keys, owners that exist, bots that are bots. */
function checkUsers(realm: ExportedRealm, users: ZulipExport["users"]): void {
  const ids = new Map<number, ExportedUser>();
  const emails = new Set<string>();
  const keys = new Set<string>();
  for (const user of users) {
    const where = `zerver_userprofile[${user.index}]`;
    if (ids.has(user.id)) fail(`${where}.id`, `${user.id} appears twice`);
    ids.set(user.id, user);
    if (user.realm !== realm.id) fail(`${where}.realm`, `${user.realm} is not the organization's id (${realm.id})`);
    const emailKey = user.delivery_email.trim().toLowerCase();
    if (emails.has(emailKey)) fail(`${where}.delivery_email`, `${user.delivery_email} appears twice`);
    emails.add(emailKey);
    if (user.is_bot && user.bot_type === null) fail(`${where}.bot_type`, "a bot needs a bot type");
    if (!user.is_bot && user.bot_type !== null) fail(`${where}.bot_type`, "must be null for an account that is not a bot");
    if (!user.is_bot && user.bot_owner !== null) fail(`${where}.bot_owner`, "must be null for an account that is not a bot");
    if (typeof user.api_key === "string") {
      if (!/^[A-Za-z0-9]{32}$/.test(user.api_key)) fail(`${where}.api_key`, "must be 32 letters and digits");
      if (keys.has(user.api_key)) fail(`${where}.api_key`, "the same key as another account in the export");
      keys.add(user.api_key);
    }
  }
  for (const user of users) {
    if (user.bot_owner === null) continue;
    const owner = ids.get(user.bot_owner);
    if (owner === undefined)
      fail(`zerver_userprofile[${user.index}].bot_owner`, `no account with id ${user.bot_owner} in zerver_userprofile`);
    if (owner.id === user.id) fail(`zerver_userprofile[${user.index}].bot_owner`, "a bot cannot own itself");
  }
}

/** Parses and checks the text of `realm.json`; throws ZulipExportError naming the field at fault. */
export function parseZulipExport(text: string): ZulipExport {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ZulipExportError(`${EXPORT_FILE}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ZulipExportError(`${EXPORT_FILE}: must hold a JSON object of tables, not ${kindOf(data)}`);
  }
  const tables = data as Record<string, unknown>;
  const realms = readTable(tables, "zerver_realm");
  if (realms.length !== 1) fail("zerver_realm", `must hold exactly one organization (it holds ${realms.length})`);
  const realm = readRow<ExportedRealm>(realms[0], "zerver_realm[0]", REALM_FIELDS);
  const users = readTable(tables, "zerver_userprofile").map((row, index) => ({
    ...readRow<ExportedUser>(row, `zerver_userprofile[${index}]`, USER_FIELDS),
    index,
  }));
  checkUsers(realm, users);
  const services = new Map<number, ExportedService>();
  const rows = Object.hasOwn(tables, "zerver_service") ? readTable(tables, "zerver_service") : [];
  rows.forEach((row, index) => {
    const where = `zerver_service[${index}]`;
    const service = readRow<ExportedService>(row, where, SERVICE_FIELDS);
    const bot = users.find((u) => u.id === service.user_profile);
    if (bot === undefined) fail(`${where}.user_profile`, `no account with id ${service.user_profile} in zerver_userprofile`);
    if (bot.bot_type !== BOT_TYPE.outgoingWebhook)
      fail(`${where}.user_profile`, `${bot.delivery_email} is not an outgoing-webhook bot`);
    if (services.has(bot.id)) fail(`${where}.user_profile`, `${bot.delivery_email} has a service already`);
    services.set(bot.id, service);
  });
  return { realm, users, services };
}
