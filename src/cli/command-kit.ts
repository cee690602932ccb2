/**
 * What the administration commands share: the options every command takes, JSON output for
 * listings, role names, and the error that ends a command with one line on stderr.
 */
import { Option } from "commander";
import type { Context } from "../domain/context.js";
import { type Realm, ROLE, ROLE_NAMES, type RoleName, type User } from "../domain/model.js";

/** A command that cannot be done as asked: printed as one line on stderr, exit status 1. */
export class CliError extends Error {
  override name = "CliError";
}

export interface CommandOptions {
  /** Opens the database of the chosen mode, runs `work`, closes it. */
  withContext: <T>(options: { dev?: boolean }, work: (ctx: Context) => Promise<T>) => Promise<T>;
  devOption: Option;
  realmOption: Option;
}

export const jsonOption = new Option("--json", "print JSON instead of text");

/** Prints a value as indented JSON, for scripts. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** A role number as people type it (`member`), or the number when it is not one of Zulip's. */
export function roleName(role: number): string {
  return ROLE_NAMES.find((name) => ROLE[name] === role) ?? String(role);
}

/** The role number of a role name, or a one-line error naming the choices. */
export function parseRoleName(name: string): number {
  if (!(ROLE_NAMES as string[]).includes(name)) {
    throw new CliError(`unknown role ${JSON.stringify(name)}: use one of ${ROLE_NAMES.join(", ")}`);
  }
  return ROLE[name as RoleName];
}

/** An organization as the listings show it in JSON. */
export function realmJson(ctx: Context, realm: Realm): Record<string, unknown> {
  return {
    id: realm.id,
    subdomain: realm.subdomain,
    name: realm.name,
    description: realm.description,
    url: ctx.site.urlOf(realm.subdomain),
    deactivated: realm.deactivated,
    date_created: new Date(realm.dateCreated).toISOString(),
    login_methods: realm.authMethods,
    ldap_auto_create: realm.ldapAutoCreate,
    oidc_auto_create: realm.oidcAutoCreate,
  };
}

/** The login methods an organization has on, by name (`email,ldap`). */
export function enabledLoginMethods(realm: Realm): string[] {
  return Object.entries(realm.authMethods)
    .filter(([, on]) => on)
    .map(([name]) => name);
}

/** An account as the listings show it in JSON. */
export function userJson(user: User): Record<string, unknown> {
  return {
    user_id: user.id,
    email: user.deliveryEmail,
    full_name: user.fullName,
    role: roleName(user.role),
    is_bot: user.isBot,
    is_active: user.isActive,
    date_joined: new Date(user.dateJoined).toISOString(),
  };
}
