/** The headers every web answer carries, and which paths belong to the API rather than the pages. */
import type { FastifyReply, FastifyRequest } from "fastify";

/** No inline script or style anywhere; `zulip:` is where the mobile flow's form ends up. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self' zulip:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

const API_PATH = /^\/(api|json)(\/|$)/i;

/** The path as the client sent it, doubled slashes collapsed. */
export function sentPath(request: FastifyRequest): string {
  return (request.url.split("?", 1)[0] ?? "").replace(/\/{2,}/g, "/");
}

/** Whether the client sent a path under `/api` or `/json`, whatever route it reached. */
export function isApiPath(request: FastifyRequest): boolean {
  return API_PATH.test(sentPath(request));
}

/**
 * Whether an answer must be in the JSON envelope. Routes are matched ignoring doubled slashes
 * and dot segments, so both the route's pattern and the path as sent decide.
 */
export function answersJson(request: FastifyRequest): boolean {
  return (request.routeOptions.url ?? "").startsWith("/json/") || isApiPath(request);
}

/** No inline script, no framing, no sniffing, no referrer. */
export function writeSecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  // Reset links carry their token in the URL: it must not leak to other sites.
  reply.header("referrer-policy", "no-referrer");
  reply.header("x-request-id", request.id);
}
