/** How accounts and organizations look to Zulip clients: avatars, icons, descriptions. */
import { createHash } from "node:crypto";
import type { Realm, User } from "../domain/model.js";

const DEFAULT_AVATAR = "/static/images/default-avatar.png";

function gravatarHash(text: string): string {
  return createHash("md5").update(text.toLowerCase()).digest("hex");
}

export function avatarUrl(user: User, gravatar: boolean): string {
  return gravatar
    ? `https://secure.gravatar.com/avatar/${gravatarHash(user.deliveryEmail)}?d=identicon&version=${user.avatarVersion}`
    : `${DEFAULT_AVATAR}?version=${user.avatarVersion}`;
}

export function realmIconUrl(realm: Realm, gravatar: boolean): string {
  return gravatar
    ? `https://secure.gravatar.com/avatar/${gravatarHash(realm.subdomain)}?d=identicon`
    : `${DEFAULT_AVATAR}?version=0`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The description as HTML: paragraphs split on blank lines, single newlines kept as line
 * breaks, everything else escaped. (Zulip renders full Markdown; plain paragraphs are the part
 * an organization description needs.)
 */
export function renderDescription(markdown: string): string {
  const paragraphs = markdown
    .replace(/\r\n?/g, "\n")
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter((p) => p !== "");
  return paragraphs.map((p) => `<p>${escapeHtml(p).replace(/\n/g, "<br>\n")}</p>`).join("\n");
}

/**
 * Python's `datetime.isoformat()` for a UTC time, as Zulip formats `date_joined`. Python leaves
 * the fraction out when the microseconds are zero.
 */
export function isoformat(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const millis = iso.slice(20, 23);
  return millis === "000" ? `${iso.slice(0, 19)}+00:00` : `${iso.slice(0, 19)}.${millis}000+00:00`;
}
