/**
 * The browser session cookie, shared by the web pages and `dev_fetch_api_key` (which, like
 * Zulip's `do_login`, logs the browser in as well as returning the key, docs/zulip-rules.md §2). The `/api` routes
 * have no cookie plugin, so the header is written here by hand.
 */
import { fastifyCookie } from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Context } from "../domain/context.js";
import type { User } from "../domain/model.js";
import { endSession, hashSecret, SESSION_AGE_MS, startSession } from "../domain/sessions.js";

export const SESSION_COOKIE = "sessionid";

/** The session cookie's flags: HttpOnly, SameSite=Lax, whole site, Secure over HTTPS. */
export function sessionCookieOptions(secure: boolean) {
  return { path: "/", httpOnly: true, sameSite: "lax", secure } as const;
}

/**
 * Logs the browser in as `user` from a route without the cookie plugin: any session its cookie
 * already names ends (a new id on every login, so a planted id is worth nothing), and a new one
 * goes out in `Set-Cookie`.
 */
export async function startBrowserSession(
  ctx: Context,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
  secure: boolean,
): Promise<void> {
  const header = request.headers.cookie;
  const previous = header === undefined ? undefined : fastifyCookie.parse(header)[SESSION_COOKIE];
  if (previous !== undefined && previous.length > 0 && previous.length <= 100) await endSession(ctx, hashSecret(previous));
  const id = await startSession(ctx, user);
  reply.header(
    "set-cookie",
    fastifyCookie.serialize(SESSION_COOKIE, id, { ...sessionCookieOptions(secure), maxAge: SESSION_AGE_MS / 1000 }),
  );
}
