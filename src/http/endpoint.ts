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

/** One Zulip parameter, read with `readParam` or `readJson*`, described for the OpenAPI document. */
export interface ParamDoc {
  description: string;
  /** The JSON Schema of the value as sent: a string, or JSON text for Zulip's `Json[...]` parameters. */
  schema?: Record<string, unknown>;
  required?: boolean;
}

/** What the OpenAPI document says of an operation (src/http/plugins/openapi.ts). */
export interface OperationDoc {
  /** Zulip's operation id where Zulip documents the endpoint. */
  operationId?: string;
  summary: string;
  description?: string;
  tags: string[];
  /** The form (or query string) parameters the handler reads. */
  params?: Record<string, ParamDoc>;
  /** Error statuses the operation answers with besides those every operation may (400, 500, 503; 401 when authenticated; 429 when rate-limited). */
  errors?: number[];
}

export interface MethodRoute extends RouteShorthandOptions {
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
  /** Whether the view reads typed parameters, so unread ones are reported (docs/zulip-rules.md §1). */
  typed?: boolean;
  /** Authenticates the request (or throws Zulip's error) before the handler runs. */
  authenticate?: (request: FastifyRequest) => void | Promise<void>;
  /** The operation in the OpenAPI document; undocumented routes are left out of it. */
  doc?: OperationDoc;
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
    const { handler, typed, authenticate, doc, ...options } = routes[method] as MethodRoute;
    const documented = doc === undefined ? options : documentedRoute(options, method, url, doc, authenticate !== undefined);
    app.route({ ...documented, method, url, handler: wrapHandler({ handler, typed, authenticate }) });
  }
  const allowed: string[] = supported.includes("GET") ? [...supported, "HEAD"] : supported;
  const others = app.supportedMethods.filter((m) => m !== "CONNECT" && !allowed.includes(m)) as HTTPMethods[];
  if (others.length === 0) return;
  app.route({
    method: others,
    url,
    schema: { hide: true },
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

/** Parameters are sent form-encoded, as Zulip's clients send them. */
export const FORM_ENCODED = "application/x-www-form-urlencoded";

/**
 * The route with its OpenAPI description: the operation's names, its parameters (as the body of a
 * POST, as the query string of a GET), its security, and the error statuses it answers with.
 * The parameter schemas describe; they are not Fastify's validation: the handler reads and
 * checks each parameter itself, with Zulip's messages (params.ts, json-params.ts).
 */
function documentedRoute(
  options: RouteShorthandOptions,
  method: Method,
  url: string,
  doc: OperationDoc,
  authenticated: boolean,
): RouteShorthandOptions {
  const schema: Record<string, unknown> = { ...options.schema, summary: doc.summary, tags: doc.tags };
  if (doc.operationId !== undefined) schema.operationId = doc.operationId;
  if (doc.description !== undefined) schema.description = doc.description;
  const pathParams = [...url.matchAll(/:(\w+)(\([^)]*\))?/g)];
  if (pathParams.length > 0) {
    const properties = Object.fromEntries(
      pathParams.map(([, name, pattern]) => [name, pattern?.includes("\\d+") ? { type: "integer" } : { type: "string" }]),
    );
    schema.params = { type: "object", properties, required: pathParams.map(([, name]) => name) };
  }
  if (authenticated) schema.security = [url.startsWith("/json/") ? { sessionCookie: [] } : { basicAuth: [] }];
  const params = doc.params ?? {};
  if (Object.keys(params).length > 0) {
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const [name, param] of Object.entries(params)) {
      properties[name] = { ...(param.schema ?? { type: "string" }), description: param.description };
      if (param.required) required.push(name);
    }
    const object = { type: "object", properties, ...(required.length > 0 ? { required } : {}) };
    if (method === "GET") schema.querystring = object;
    else {
      schema.body = object;
      schema.consumes = [FORM_ENCODED];
    }
  }
  // Rate limits apply per user (authenticated requests) and per address (routes that opt in).
  const limited = authenticated || options.config?.limitByAddress === true;
  const errors = new Set([400, 500, 503, ...(limited ? [429] : []), ...(authenticated ? [401] : []), ...(doc.errors ?? [])]);
  if (method !== "GET") for (const status of [413, 415]) errors.add(status);
  // Session requests that change something need the CSRF token.
  if (authenticated && url.startsWith("/json/") && method !== "GET") errors.add(403);
  // A browser that opens a session URL without a session is sent to the login page.
  if (authenticated && url.startsWith("/json/") && method === "GET") errors.add(302);
  schema["x-zulip-errors"] = [...errors].sort((a, b) => a - b);
  return { ...options, schema, validatorCompiler: acceptAsRead };
}

/** The handler validates its parameters (see documentedRoute), so Fastify's validator lets every request through. */
function acceptAsRead() {
  return () => true;
}
