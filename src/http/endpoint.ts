/**
 * Registering an endpoint with Zulip's method handling: the methods it supports, and for every
 * other method a 405 (JSON with `allowed_methods` for API views, or Django's plain 405 for
 * `require_safe` views such as server_settings).
 */
import { METHODS } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteShorthandOptions } from "fastify";
import { ZulipError } from "../errors.js";
import { ignoredParams } from "./params.js";
import { writeRateLimitHeaders } from "./plugins/rate-limits.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface MethodRoute extends RouteShorthandOptions {
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
  /** Whether the view reads typed parameters, so unread ones are reported (docs/zulip-rules.md §1). */
  typed?: boolean;
  /** Authenticates the request (or throws Zulip's error) before the handler runs. */
  authenticate?: (request: FastifyRequest) => void | Promise<void>;
}

const ROUTED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/**
 * Teaches the app every method Node's HTTP parser accepts (PROPFIND, SEARCH, QUERY, ...), so that
 * an unsupported method on an endpoint gets Zulip's 405 like any other, not a 404 or a parser
 * error. No route serves them, so their bodies are never read. CONNECT is left out: Node hands it
 * to the server's "connect" event, never to a route.
 */
export function acceptEveryMethod(app: FastifyInstance): void {
  for (const method of METHODS) {
    if (method === "CONNECT" || ROUTED_METHODS.has(method)) continue;
    app.addHttpMethod(method, { hasBody: false, overrideExisting: true });
  }
}

/**
 * Adds `ignored_parameters_unsupported` to successful responses of typed views. The payload is
 * copied, never changed in place, because handlers may return cached bodies.
 */
function withIgnoredParams(request: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
  if (reply.statusCode < 200 || reply.statusCode >= 300 || typeof payload !== "object" || payload === null) return payload;
  const ignored = ignoredParams(request);
  return ignored.length > 0 ? { ...payload, ignored_parameters_unsupported: ignored } : payload;
}

/** What goes out with every successful answer: the request id and the rate-limit headers. */
function finish(request: FastifyRequest, reply: FastifyReply, payload: unknown, typed: boolean | undefined): unknown {
  writeRateLimitHeaders(request, reply);
  return typed ? withIgnoredParams(request, reply, payload) : payload;
}

/**
 * The handler with authentication before it and, after it, parameter accounting and the
 * headers every answer carries: the request id (so a report can be matched to the server's log
 * lines) and X-RateLimit-*. Synchronous steps stay synchronous, so a request whose key check
 * needs no I/O is answered without extra trips through the promise queue. (Errors get the same
 * headers from the error envelope.)
 */
function wrapHandler({ handler, typed, authenticate }: MethodRoute): MethodRoute["handler"] {
  const run = (request: FastifyRequest, reply: FastifyReply): unknown => {
    const payload = handler(request, reply);
    return payload instanceof Promise
      ? payload.then((p) => finish(request, reply, p, typed))
      : finish(request, reply, payload, typed);
  };
  return (request, reply) => {
    reply.header("x-request-id", request.id);
    const authenticated = authenticate?.(request);
    return authenticated instanceof Promise ? authenticated.then(() => run(request, reply)) : run(request, reply);
  };
}

export function registerEndpoint(
  app: FastifyInstance,
  url: string,
  routes: Partial<Record<Method, MethodRoute>>,
  notAllowed: "json" | "plain" = "json",
): void {
  const supported = Object.keys(routes) as Method[];
  for (const method of supported) {
    const { handler, typed, authenticate, ...options } = routes[method] as MethodRoute;
    app.route({ ...options, method, url, handler: wrapHandler({ handler, typed, authenticate }) });
  }
  const allowed: string[] = supported.includes("GET") ? [...supported, "HEAD"] : supported;
  const others = app.supportedMethods.filter((m) => m !== "CONNECT" && !allowed.includes(m)) as HTTPMethods[];
  if (others.length === 0) return;
  app.route({
    method: others,
    url,
    handler: async (_request, reply) => {
      if (notAllowed === "plain") {
        return reply.code(405).header("allow", allowed.join(", ")).type("text/html; charset=utf-8").send("");
      }
      throw new ZulipError("Method Not Allowed", {
        status: 405,
        code: null,
        data: { allowed_methods: supported },
        headers: { allow: supported.join(", ") },
      });
    },
  });
}
