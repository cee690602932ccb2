/** The development mode's demo organization, created on first start. */

import { createAccount, createRealm } from "./domain/accounts.js";
import type { Context } from "./domain/context.js";
import { ROLE } from "./domain/model.js";

export const DEMO_PASSWORD = "abcd1234";

export const DEMO_USERS = [
  { email: "iago@zulip.com", fullName: "Iago", role: ROLE.administrator },
  { email: "hamlet@zulip.com", fullName: "King Hamlet", role: ROLE.member },
  { email: "othello@zulip.com", fullName: "Othello, the Moor of Venice", role: ROLE.member },
  { email: "cordelia@zulip.com", fullName: "Cordelia, Lear's daughter", role: ROLE.member },
] as const;

/** Creates the demo organization at the root host unless some organization already exists. */
export async function seedDemo(ctx: Context): Promise<boolean> {
  if ((await ctx.stores.realms.list()).length > 0) return false;
  const realm = await createRealm(ctx, {
    subdomain: "",
    name: "Zulip Dev",
    description: "The Latchkey development organization.",
    authMethods: { email: true, dev: true, ldap: false },
  });
  await Promise.all(
    DEMO_USERS.map((u) =>
      createAccount(ctx, { realmId: realm.id, email: u.email, fullName: u.fullName, role: u.role, password: DEMO_PASSWORD }),
    ),
  );
  return true;
}
