/** What real Zulip clients require of the server's answers (docs/clients.md), as assertions. */
import assert from "node:assert/strict";

/** The fields zulip-flutter's parser requires, with the types it requires (docs/clients.md §4). */
export function assertFlutterFields(body: Record<string, unknown>): void {
  assert.equal(typeof body.authentication_methods, "object");
  assert.equal(typeof (body.authentication_methods as Record<string, unknown>).ldap, "boolean");
  assert.ok(Array.isArray(body.external_authentication_methods));
  for (const m of body.external_authentication_methods as Record<string, unknown>[]) {
    for (const k of ["name", "display_name", "login_url", "signup_url"]) assert.equal(typeof m[k], "string");
    assert.ok(m.display_icon === null || typeof m.display_icon === "string");
  }
  assert.ok(Number.isInteger(body.zulip_feature_level));
  for (const k of ["zulip_version", "zulip_merge_base", "realm_uri", "realm_name", "realm_icon", "realm_description"]) {
    assert.equal(typeof body[k], "string", k);
  }
  for (const k of [
    "push_notifications_enabled",
    "is_incompatible",
    "email_auth_enabled",
    "require_email_format_usernames",
    "realm_web_public_access_enabled",
  ]) {
    assert.equal(typeof body[k], "boolean", k);
  }
  assert.doesNotThrow(() => new globalThis.URL(body.realm_uri as string));
}
