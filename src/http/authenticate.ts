/**
 * Authentication for REST endpoints (§5.1–§5.3): HTTP Basic with an email and API key. Every
 * error from the key check is rewrapped as 401 UNAUTHORIZED, as Zulip's
 * `authenticated_rest_api_view` does.
 */
import type { FastifyRequest } from "fastify";
import { LRUCache } from "lru-cache";
import type { Context } from "../domain/context.js";
import { verifyApiKey } from "../domain/verify-api-key.js";
import { BASIC_CHALLENGE, MESSAGES, SESSION_CHALLENGE, unauthorizedBasic, ZulipError } from "../errors.js";
import { type BasicCredentials, parseBasicCredentials } from "./basic-credentials.js";
import { applyLimit } from "./plugins/rate-limits.js";

function notLoggedIn(request: FastifyRequest): ZulipError {
  const challenge = request.url.startsWith("/api") ? BASIC_CHALLENGE : SESSION_CHALLENGE;
  return new ZulipError(MESSAGES.notLoggedIn, {
    status: 401,
    code: "UNAUTHORIZED",
    headers: { "www-authenticate": challenge },
  });
}

/**
 * Builds the onRequest hook that authenticates a REST request or throws Zulip's error, then
 * counts the request against the user's `api_by_user` limit (Zulip's `rate_limit_user`). The
 * limit is one in-memory check (or one Redis round trip) per request.
 */
export function makeRestAuthenticator(ctx: Context): (request: FastifyRequest) => Promise<void> {
  // Parsing a header and digesting its key is pure work on the same input every time a client
  // reuses its credentials; remembering the result (bounded) keeps key checks cheap.
  const parsed = new LRUCache<string, BasicCredentials & { digest: string }>({ max: 10_000 });
  return async function authenticateRest(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    if (header === undefined) throw notLoggedIn(request);
    let credentials = parsed.get(header);
    if (credentials === undefined) {
      const { role, apiKey } = parseBasicCredentials(header);
      credentials = { role, apiKey, digest: ctx.vault.digest(apiKey.trim()) };
      parsed.set(header, credentials);
    }
    const { role, apiKey, digest } = credentials;
    let principal: NonNullable<FastifyRequest["principal"]>;
    try {
      principal = await verifyApiKey(ctx, { role, apiKey, digest, subdomain: request.subdomain });
    } catch (err) {
      if (err instanceof ZulipError) throw unauthorizedBasic(err.message);
      throw err;
    }
    request.principal = principal;
    await applyLimit(request, ctx.limits.user, `api_by_user:${principal.user.id}`);
  };
}
