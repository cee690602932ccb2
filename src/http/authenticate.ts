/**
 * Authentication for REST endpoints (docs/zulip-rules.md §5.1–§5.3): HTTP Basic with an email and API key. Every
 * error from the key check is rewrapped as 401 UNAUTHORIZED, as Zulip's
 * `authenticated_rest_api_view` does.
 */
import type { FastifyRequest } from "fastify";
import { hasApiKeyFormat } from "../domain/api-key.js";
import type { Context } from "../domain/context.js";
import type { Principal } from "../domain/key-cache.js";
import { pythonStrip } from "../domain/python-text.js";
import { verifyCachedApiKey, verifyStoredApiKey } from "../domain/verify-api-key.js";
import {
  BASIC_CHALLENGE,
  invalidApiKey,
  NotLoggedInError,
  SESSION_CHALLENGE,
  ServiceUnavailableError,
  unauthorizedBasic,
  ZulipError,
} from "../errors.js";
import { parseBasicCredentials } from "./basic-credentials.js";
import { clientName } from "./client-name.js";
import { applyLimit } from "./plugins/rate-limits.js";

function notLoggedIn(request: FastifyRequest): NotLoggedInError {
  return new NotLoggedInError(request.url.startsWith("/api") ? BASIC_CHALLENGE : SESSION_CHALLENGE);
}

/** A Basic header as the key check reads it; `digest` is null when the key is malformed. */
interface ReadHeader {
  username: string;
  usernameKey: string;
  apiKey: string;
  digest: string | null;
}

const READ_HEADERS_KEPT = 10_000;
/** The longest email address (RFC 5321); a longer Basic username is never remembered. */
const MAX_REMEMBERED_USERNAME = 254;

/**
 * Authenticates a request or throws Zulip's error; on success `request.principal` is set.
 * Synchronous when nothing needs waiting for (a cached key, a limit counted in memory).
 */
export type Authenticate = (request: FastifyRequest) => void | Promise<void>;

/**
 * Builds the check that authenticates a REST request or throws Zulip's error, then counts the
 * request against the user's `api_by_user` limit (Zulip's `rate_limit_user`). When the key is
 * cached and the limit is counted in memory, the whole check completes without waiting.
 */
export function makeRestAuthenticator(ctx: Context): Authenticate {
  // Parsing a header and digesting its key is pure work on the same input every time a client
  // reuses its credentials, so results are remembered. Only credentials that authenticated are
  // (a well-formed key and an email-length username, by construction): headers are chosen by
  // whoever sends them, and junk must neither grow the memory nor push real clients out of it.
  // The memory is bounded: past the bound the oldest entry goes (first in, first out, which is
  // all a parse cache needs).
  const read = new Map<string, ReadHeader>();
  const readHeader = (header: string): ReadHeader => {
    const known = read.get(header);
    if (known !== undefined) return known;
    const { username, apiKey } = parseBasicCredentials(header);
    const key = pythonStrip(apiKey);
    const digest = hasApiKeyFormat(key) ? ctx.vault.digest(key) : null;
    return { username, usernameKey: pythonStrip(username).toLowerCase(), apiKey, digest };
  };
  const remember = (header: string, entry: ReadHeader): void => {
    if (read.has(header) || entry.digest === null || entry.username.length > MAX_REMEMBERED_USERNAME) return;
    if (read.size >= READ_HEADERS_KEPT) read.delete(read.keys().next().value as string);
    read.set(header, entry);
  };
  const keyUse = ctx.keyUse ?? null;
  const describe = (request: FastifyRequest) => ({ ip: request.ip, client: clientName(request) });
  const admitted = (request: FastifyRequest, principal: Principal, digest: string): void | Promise<void> => {
    request.principal = principal;
    request.apiKeyDigest = digest;
    // A map lookup and a time comparison; the write, at most once a minute, is not waited for.
    if (keyUse !== null) keyUse.note(digest, principal.user.id, request, describe);
    return applyLimit(request, ctx.limits.user, principal.rateKey);
  };
  return function authenticateRest(request: FastifyRequest): void | Promise<void> {
    const header = request.headers.authorization;
    if (header === undefined) throw notLoggedIn(request);
    const entry = readHeader(header);
    const { username, usernameKey, apiKey, digest } = entry;
    if (digest === null) throw rewrap(invalidApiKey(true));
    const check = { username, usernameKey, apiKey, digest, subdomain: request.subdomain };
    let principal: Principal | undefined;
    try {
      principal = verifyCachedApiKey(ctx, check);
    } catch (err) {
      throw rewrap(err);
    }
    if (principal !== undefined) {
      remember(header, entry);
      return admitted(request, principal, digest);
    }
    return verifyStoredApiKey(ctx, check).then(
      (found) => {
        remember(header, entry);
        return admitted(request, found, digest);
      },
      (err: unknown) => {
        throw rewrap(err);
      },
    );
  };
}

/**
 * Every error from the key check becomes 401 UNAUTHORIZED with the Basic challenge, except an
 * outage (503): the key may be good, and the client should try again rather than log out.
 */
function rewrap(err: unknown): unknown {
  return err instanceof ZulipError && !(err instanceof ServiceUnavailableError) ? unauthorizedBasic(err.message) : err;
}
