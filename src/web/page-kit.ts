/**
 * What the page routes share: reading form fields, answering with a page, finding the
 * organization of the request's host and the logged-in user of it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from "fastify";
import type { Context } from "../domain/context.js";
import type { Realm, User } from "../domain/model.js";
import { SESSION_AGE_MS } from "../domain/sessions.js";
import type { RateLimitError } from "../errors.js";
import { bag, lastString } from "../http/params.js";
import { messagePage } from "./layout.js";
import { checkSessionAccount } from "./session-auth.js";
import { SESSION_COOKIE, sessionCookieOptions } from "./session-cookie.js";

/** A form field from the body (never the query string: secrets do not belong in URLs). */
export function field(request: FastifyRequest, name: string): string | undefined {
  return lastString(bag(request.body)?.[name]);
}

export function queryValue(request: FastifyRequest, name: string): string | undefined {
  return lastString(bag(request.query)?.[name]);
}

/** "Try again in N seconds." for a 429. */
export function tryAgainIn(err: RateLimitError): string {
  return `Try again in ${Math.ceil(err.retryAfter)} seconds.`;
}

export function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type("text/html; charset=utf-8").send(body);
}

export function redirect(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(302).header("location", location).send();
}

/** A local path to go to after logging in; anything else (other hosts, `//x`) is ignored. */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith("/") || next.startsWith("//")) return "/settings/account";
  // Browsers drop tabs and line breaks and read `\` as `/`, so `/\tevil` or `/\\evil` would leave
  // the site; control characters must never reach a Location header either.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: those are exactly what is refused.
  if (/[\s\\\u0000-\u001f\u007f]/.test(next)) return "/settings/account";
  return next;
}

/** The CSRF check of a form post, as a route's preHandler. */
export function csrfCheck(app: FastifyInstance): preHandlerHookHandler {
  return (request, reply, done) => {
    app.csrfProtection(request, reply, done);
  };
}

export function setSessionCookie(reply: FastifyReply, id: string, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, id, { ...sessionCookieOptions(secure), maxAge: SESSION_AGE_MS / 1000 });
}

/** The organization at the request's host, or null after sending the "Invalid subdomain" page. */
export async function requireHostRealm(ctx: Context, request: FastifyRequest, reply: FastifyReply): Promise<Realm | null> {
  const realm = await ctx.stores.realms.findBySubdomain(request.subdomain);
  if (realm === null) {
    sendHtml(reply, 404, messagePage("Invalid subdomain", "There is no organization at this address."));
    return null;
  }
  return realm;
}

/** The logged-in user of this organization, or null. */
export function currentUser(request: FastifyRequest, realm: Realm): User | null {
  const session = request.webSession;
  if (session === null) return null;
  try {
    checkSessionAccount(session, realm.subdomain);
  } catch {
    return null;
  }
  return session.user;
}

/** A page for logged-in users: the user, or null after redirecting to the login page with `next`. */
export async function requireLogin(
  ctx: Context,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<{ user: User; realm: Realm } | null> {
  const realm = await requireHostRealm(ctx, request, reply);
  if (realm === null) return null;
  const user = currentUser(request, realm);
  if (user === null) {
    const path = request.url.split("?", 1)[0] ?? "/";
    redirect(reply, `/login/?next=${encodeURIComponent(path)}`);
    return null;
  }
  return { user, realm };
}
