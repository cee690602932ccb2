/**
 * Zulip's rate limits at the HTTP layer (docs/zulip-rules.md §4.5, §4.6): the per-address limit for unauthenticated
 * endpoints that opt in with `config: { limitByAddress: true }`, and the X-RateLimit-* headers
 * on every response to which some limit was applied (the per-user limit is applied where Basic
 * auth succeeds, in `src/http/authenticate.ts`; the headers are written by `src/http/endpoint.ts`
 * and the error envelope).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Context } from "../../domain/context.js";
import type { Limit, RateDecision } from "../../domain/rate-limiter.js";
import { rateLimited } from "../../errors.js";
import { addressRateKey } from "../client-address.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Every rate-limit decision taken for this request, for the X-RateLimit-* headers. */
    rateDecisions: RateDecision[] | null;
  }
  interface FastifyContextConfig {
    /** Count requests to this route against Zulip's `api_by_ip` limit. */
    limitByAddress?: boolean;
  }
}

/** Remembers a decision so the response carries its X-RateLimit-* headers. */
export function recordRateDecision(request: FastifyRequest, decision: RateDecision): void {
  if (request.rateDecisions === null) request.rateDecisions = [decision];
  else request.rateDecisions.push(decision);
}

function settle(request: FastifyRequest, decision: RateDecision): void {
  recordRateDecision(request, decision);
  if (decision.limited) throw rateLimited(decision.secondsToFreedom);
}

/**
 * Counts the request against `limit` under `key`; throws Zulip's 429 when it is over. A store
 * that decides in this process answers without a round through the promise queue.
 */
export function applyLimit(request: FastifyRequest, limit: Limit, key: string): void | Promise<void> {
  const { limiter, rules } = limit;
  if (limiter.hitNow !== undefined) return settle(request, limiter.hitNow(key, rules));
  return limiter.hit(key, rules).then((decision) => settle(request, decision));
}

/**
 * Zulip's RateLimitMiddleware: Limit and Remaining are the smallest among the limits applied
 * to the request, Reset the latest time at which one of them frees up (a Unix time in whole
 * seconds). Called by whatever sends the answer (the endpoint wrapper, the error envelope), so
 * that answers to which no limit applied pay nothing.
 */
export function writeRateLimitHeaders(request: FastifyRequest, reply: FastifyReply): void {
  const decisions = request.rateDecisions;
  // Absent, not just null, on requests rejected before routing.
  if (decisions === null || decisions === undefined) return;
  let limit = Number.POSITIVE_INFINITY;
  let remaining = Number.POSITIVE_INFINITY;
  let reset = 0;
  for (const d of decisions) {
    limit = Math.min(limit, d.limit);
    remaining = Math.min(remaining, d.limited ? 0 : d.remaining);
    reset = Math.max(reset, d.at / 1000 + (d.limited ? d.secondsToFreedom : d.resetSeconds));
  }
  reply.header("x-ratelimit-limit", String(limit));
  reply.header("x-ratelimit-remaining", String(remaining));
  reply.header("x-ratelimit-reset", String(Math.floor(reset)));
}

/** Must be registered before the routes: it attaches the per-address hook to those that opt in. */
export function registerRateLimits(app: FastifyInstance, ctx: Context): void {
  app.decorateRequest("rateDecisions", null);
  const limitByAddress = async (request: FastifyRequest): Promise<void> => {
    await applyLimit(request, ctx.limits.ip, `api_by_ip:${addressRateKey(request.ip)}`);
  };
  // Pages (the web forms) are not sent through the JSON endpoint wrapper, which writes the
  // headers for the API; on these routes they are written as the answer leaves.
  const headersOnSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!reply.hasHeader("x-ratelimit-limit")) writeRateLimitHeaders(request, reply);
    return payload;
  };
  // Only the opted-in routes pay for the check; the users/me hot path never sees it.
  app.addHook("onRoute", (route) => {
    if (route.config?.limitByAddress !== true) return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [limitByAddress, ...existing];
    const sending = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
    route.onSend = [...sending, headersOnSend];
  });
}
