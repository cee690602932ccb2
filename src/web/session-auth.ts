/**
 * Authentication for the web app's `/json/...` endpoints (docs/zulip-rules.md §5.1): a logged-in
 * session (checked for CSRF on state-changing methods), else 401 with
 * `WWW-Authenticate: Session realm="zulip"`. HTTP Basic is for `/api` only, as in current Zulip's
 * `rest_dispatch`: a browser that has cached Basic credentials for the site must not be able to
 * reach a `/json` endpoint without the CSRF check a session gets.
 */
import type { Context } from "../domain/context.js";
import { makePrincipal } from "../domain/key-cache.js";
import type { ResolvedSession } from "../domain/sessions.js";
import { NotLoggedInError, realmDeactivated, SESSION_CHALLENGE, userDeactivated, wrongSubdomain } from "../errors.js";
import type { Authenticate } from "../http/authenticate.js";
import { applyLimit } from "../http/plugins/rate-limits.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The browser session the request's cookie names, if any (web routes only). */
    webSession: ResolvedSession | null;
  }
}

/**
 * Zulip's `validate_account_and_subdomain` for a session, without the Basic path's rewrap:
 * 401 REALM_DEACTIVATED, 401 USER_DEACTIVATED, 400 for another organization's host.
 */
export function checkSessionAccount(session: ResolvedSession, subdomain: string): void {
  if (session.realm.deactivated) throw realmDeactivated();
  if (!session.user.isActive) throw userDeactivated();
  if (session.realm.subdomain !== subdomain) throw wrongSubdomain();
}

/** Builds the `/json` authenticator. */
export function makeSessionAuthenticator(ctx: Context): Authenticate {
  return (request) => {
    const session = request.webSession;
    if (session !== null && session !== undefined) {
      checkSessionAccount(session, request.subdomain);
      const principal = makePrincipal(session.user, session.realm);
      request.principal = principal;
      return applyLimit(request, ctx.limits.user, principal.rateKey);
    }
    throw new NotLoggedInError(SESSION_CHALLENGE);
  };
}
