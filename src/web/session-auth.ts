/**
 * Authentication for the web app's `/json/...` endpoints (§5.1): a logged-in session (checked
 * for CSRF on state-changing methods), else HTTP Basic as on `/api`, else 401 with
 * `WWW-Authenticate: Session realm="zulip"`.
 */
import type { FastifyRequest } from "fastify";
import type { Context } from "../domain/context.js";
import { makePrincipal } from "../domain/key-cache.js";
import type { ResolvedSession } from "../domain/sessions.js";
import { MESSAGES, SESSION_CHALLENGE, ZulipError } from "../errors.js";
import { applyLimit } from "../http/plugins/rate-limits.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The browser session the request's cookie names, if any (web routes only). */
    webSession: ResolvedSession | null;
  }
}

/** The 401 of §5.1 for `/json` requests with neither a session nor credentials. */
export class NotLoggedInError extends ZulipError {
  constructor() {
    super(MESSAGES.notLoggedIn, { status: 401, code: "UNAUTHORIZED", headers: { "www-authenticate": SESSION_CHALLENGE } });
  }
}

export function notLoggedInSession(): ZulipError {
  return new NotLoggedInError();
}

/**
 * Zulip's `validate_account_and_subdomain` for a session, without the Basic path's rewrap:
 * 401 REALM_DEACTIVATED, 401 USER_DEACTIVATED, 400 for another organization's host.
 */
export function checkSessionAccount(session: ResolvedSession, subdomain: string): void {
  if (session.realm.deactivated) throw new ZulipError(MESSAGES.realmDeactivated, { status: 401, code: "REALM_DEACTIVATED" });
  if (!session.user.isActive) throw new ZulipError(MESSAGES.userDeactivated, { status: 401, code: "USER_DEACTIVATED" });
  if (session.realm.subdomain !== subdomain) throw new ZulipError(MESSAGES.wrongSubdomain);
}

/** Builds the `/json` authenticator; `restAuth` is the Basic check used on `/api`. */
export function makeSessionAuthenticator(
  ctx: Context,
  restAuth: (request: FastifyRequest) => void | Promise<void>,
): (request: FastifyRequest) => void | Promise<void> {
  return (request) => {
    const session = request.webSession;
    if (session !== null && session !== undefined) {
      checkSessionAccount(session, request.subdomain);
      const principal = makePrincipal(session.user, session.realm);
      request.principal = principal;
      return applyLimit(request, ctx.limits.user, principal.rateKey);
    }
    if (request.headers.authorization !== undefined) return restAuth(request);
    throw notLoggedInSession();
  };
}
