/**
 * Zulip's `email_on_new_login` (docs/zulip-rules.md §1): after an API-key login (fetch_api_key, dev_fetch_api_key,
 * the mobile flow) or a web login, the account's owner gets an email naming the time, the
 * address and the device, unless one of Zulip's exceptions holds.
 */
import type { LoginSource } from "./context.js";
import type { Mailer, OutgoingEmail } from "./mailer.js";
import type { Clock, Realm, User } from "./model.js";

/** Zulip's JUST_CREATED_THRESHOLD: no email for a login within a minute of signing up. */
export const JUST_CREATED_MS = 60_000;

/** Zulip's `get_device_os`, on the lower-cased User-Agent. */
export function deviceOs(userAgent: string): string | null {
  const ua = userAgent.toLowerCase();
  if (ua.includes("windows")) return "Windows";
  if (ua.includes("macintosh")) return "macOS";
  if (ua.includes("linux") && ua.includes("android")) return "Android";
  if (ua.includes("linux")) return "Linux";
  if (ua.includes("android")) return "Android";
  if (ua.includes("ios") || ua.includes("iphone") || ua.includes("ipad")) return "iOS";
  if (ua.includes("like mac os x")) return "iOS";
  return null;
}

/** Zulip's `get_device_browser`, on the lower-cased User-Agent. */
export function deviceBrowser(userAgent: string): string | null {
  const ua = userAgent.toLowerCase();
  if (ua.includes("zulip")) return "Zulip";
  if (ua.includes("edge") || ua.includes("edg/")) return "Edge";
  if (ua.includes("opera") || ua.includes("opr/")) return "Opera";
  if ((ua.includes("chrome") || ua.includes("crios")) && !ua.includes("chromium")) return "Chrome";
  if (ua.includes("firefox") && !ua.includes("seamonkey") && !ua.includes("chrome")) return "Firefox";
  if (ua.includes("chromium")) return "Chromium";
  if (ua.includes("safari")) return "Safari";
  if (ua.includes("msie") || ua.includes("trident")) return "Internet Explorer";
  return null;
}

function validTimeZone(zone: string): string {
  if (zone === "") return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone;
  } catch {
    return "UTC";
  }
}

/** "Weekday, Month DD, YYYY at HH:MM TZ" in the user's time zone, 12-hour unless they chose 24. */
export function formatLoginTime(ms: number, timezone: string, twentyFourHour: boolean): string {
  const timeZone = validTimeZone(timezone);
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    weekday: "long",
    month: "long",
    day: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: twentyFourHour ? "h23" : "h12",
    timeZoneName: "short",
  }).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  const clock = twentyFourHour ? `${part("hour")}:${part("minute")}` : `${part("hour")}:${part("minute")} ${part("dayPeriod")}`;
  return `${part("weekday")}, ${part("month")} ${part("day")}, ${part("year")} at ${clock} ${part("timeZoneName")}`;
}

export interface LoginNotificationSettings {
  /** Zulip's SEND_LOGIN_EMAILS. */
  sendLoginEmails: boolean;
  realmUrl(realm: Realm): string;
}

/** The email Zulip would send, or null when one of its exceptions holds. */
export function newLoginEmail(
  settings: LoginNotificationSettings,
  clock: Clock,
  user: User,
  realm: Realm,
  source: LoginSource,
): OutgoingEmail | null {
  if (!settings.sendLoginEmails || !user.enableLoginEmails || user.deliveryEmail === "") return null;
  const now = clock.now();
  if (now - user.dateJoined <= JUST_CREATED_MS) return null;
  const os = deviceOs(source.userAgent) ?? "an unknown operating system";
  const browser = deviceBrowser(source.userAgent) ?? "An unknown browser";
  const url = settings.realmUrl(realm);
  const text = [
    `Hello ${user.fullName},`,
    "",
    `This is a notice that there was a login to your account (${user.deliveryEmail}) on ${url}.`,
    "",
    `Time: ${formatLoginTime(now, user.timezone, user.twentyFourHourTime)}`,
    `Device: ${browser} on ${os}.`,
    `IP address: ${source.ip === "" ? "Unknown IP address" : source.ip}`,
    "",
    "If you do not recognize this login, or you think your account may have been compromised,",
    `please reset your password at ${url}/accounts/password/reset/ immediately.`,
    "",
    `To stop these emails, turn off "Send email notifications for new logins to my account" in your settings: ${url}/settings/account`,
    "",
  ].join("\n");
  return { to: user.deliveryEmail, subject: `New login from ${browser} on ${os}`, text };
}

/**
 * Sends the new-login email in the background: the login never waits for the mail server,
 * and a failure is logged rather than refused.
 */
export function notifyNewLogin(
  deps: { mailer: Mailer; clock: Clock; log: { warn(obj: object, msg?: string): void } },
  settings: LoginNotificationSettings,
  user: User,
  realm: Realm,
  source: LoginSource,
): void {
  const email = newLoginEmail(settings, deps.clock, user, realm, source);
  if (email === null) return;
  deps.mailer.send(email).catch((err: unknown) => {
    deps.log.warn({ err, userId: user.id, reqId: source.requestId }, "could not send the new-login email");
  });
}
