/**
 * The OpenAPI 3.1 document of the API (`GET /api/v1/openapi.json`, committed as docs/openapi.json),
 * made by @fastify/swagger from the routes as registered: their response schemas (the same ones
 * the serializers use), and the names, parameters and error statuses that `registerEndpoint`
 * records from each route's `doc`. Only `/api/v1` and `/json` operations are documented.
 */
import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { ERROR_CODES } from "../../errors.js";
import { registerEndpoint } from "../endpoint.js";

/** Named schemas: a response schema with one of these titles becomes a `$ref` to the component. */
const NAMED_SCHEMAS = ["ApiKeyResponse"];

/** Zulip's error envelope, with every field an error may carry. */
const jsonError = {
  type: "object",
  additionalProperties: false,
  required: ["result", "msg"],
  properties: {
    result: { type: "string", enum: ["error"] },
    msg: { type: "string", description: "A human-readable description of the error." },
    code: { type: "string", enum: Object.keys(ERROR_CODES), description: "The machine-readable kind of error." },
    var_name: { type: "string", description: "With `REQUEST_VARIABLE_MISSING`: the parameter that is missing." },
    request_id: { type: "string", description: "With a 500: the request's id in the server's log." },
    reason: { type: "string", description: "With `CSRF_FAILED`: why the token was refused." },
    "retry-after": {
      type: "number",
      description: "With `RATE_LIMIT_HIT` (and a full login queue): seconds to wait before trying again.",
    },
  },
};

function codes(...names: (keyof typeof ERROR_CODES)[]): string {
  return names.map((name) => `- \`${name}\`: ${ERROR_CODES[name]}`).join("\n");
}

/** Every error status an operation may list: the name of its shared response, and the codes it carries. */
const RESPONSE_NAMES: Record<number, string> = {
  302: "LoginRedirect",
  400: "BadRequest",
  401: "Unauthorized",
  403: "CsrfFailed",
  404: "NotFound",
  413: "RequestTooLarge",
  415: "UnsupportedMediaType",
  429: "RateLimited",
  500: "InternalError",
  503: "ServiceUnavailable",
};

const ERROR_RESPONSES: Record<number, string> = {
  302: "A browser (`Accept: text/html`) without a session is sent to the login page (`Location`); other clients get the 401.",
  400: `A client error.\n\n${codes("BAD_REQUEST", "REQUEST_VARIABLE_MISSING")}`,
  401: `Authentication failed; under \`/api\` the answer carries \`WWW-Authenticate: Basic realm="zulip"\` when the Basic credentials were missing or wrong.\n\n${codes(
    "UNAUTHORIZED",
    "AUTHENTICATION_FAILED",
    "USER_DEACTIVATED",
    "REALM_DEACTIVATED",
    "PASSWORD_AUTH_DISABLED",
    "PASSWORD_RESET_REQUIRED",
    "INVALID_API_KEY",
  )}`,
  403: `The session request lacks a valid CSRF token; \`reason\` says why.\n\n${codes("CSRF_FAILED")}`,
  404: `No organization at the request's host, or no such object.\n\n${codes("NONEXISTENT_SUBDOMAIN", "BAD_REQUEST")}`,
  413: `The body is too large.\n\n${codes("REQUEST_TOO_LARGE")}`,
  415: `The body cannot be read in its declared encoding.\n\n${codes("UNSUPPORTED_MEDIA_TYPE")}`,
  429: `Rate limited; the \`Retry-After\` header and \`retry-after\` say how many seconds to wait.\n\n${codes("RATE_LIMIT_HIT")}`,
  500: "An unexpected error of the server; `request_id` matches the server's log lines (and the `X-Request-Id` header).",
  503: `A dependency that guards the operation is unavailable, or too many logins are waiting.\n\n${codes("SERVICE_UNAVAILABLE")}`,
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Replaces schemas titled with a component's name by a `$ref` to it, and fills the component. */
function nameSchemas(node: unknown, components: Json): unknown {
  if (Array.isArray(node)) return node.map((item) => nameSchemas(item, components));
  if (!isObject(node)) return node;
  const title = node.title;
  if (typeof title === "string" && NAMED_SCHEMAS.includes(title)) {
    components[title] = node;
    return { $ref: `#/components/schemas/${title}` };
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, nameSchemas(value, components)]));
}

/** The document's finishing touches: named schemas, and the error responses each operation listed. */
function finish(document: Json): Json {
  const components = (document.components ?? {}) as Json;
  const schemas = { ...((components.schemas ?? {}) as Json), JsonError: jsonError };
  const paths = nameSchemas(document.paths, schemas) as Record<string, Record<string, Json>>;
  const used = new Set<number>();
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      const statuses = (operation["x-zulip-errors"] ?? []) as number[];
      delete operation["x-zulip-errors"];
      const responses = (operation.responses ?? {}) as Json;
      const success = responses["200"] as Json | undefined;
      if (success?.description === "Default Response") success.description = "Success.";
      for (const status of statuses) {
        const name = RESPONSE_NAMES[status];
        if (name === undefined) throw new Error(`no shared response for status ${status}`);
        responses[String(status)] = { $ref: `#/components/responses/${name}` };
        used.add(status);
      }
      operation.responses = responses;
    }
  }
  const shared: Json = {};
  for (const status of [...used].sort((a, b) => a - b)) {
    shared[RESPONSE_NAMES[status] as string] =
      status < 400
        ? { description: ERROR_RESPONSES[status], headers: { Location: { schema: { type: "string" } } } }
        : {
            description: ERROR_RESPONSES[status],
            content: { "application/json": { schema: { $ref: "#/components/schemas/JsonError" } } },
          };
  }
  return { ...document, paths, components: { ...components, schemas, responses: shared } };
}

export interface OpenApiOptions {
  version: string;
}

/** Registers the document's generator; call before any route, so every route is seen. */
export async function registerOpenApi(app: FastifyInstance, { version }: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Latchkey",
        version,
        description:
          "Zulip-compatible API-key authentication. Parameters are sent form-encoded in the body (or in the query string); answers are Zulip's JSON envelope, `result` being `success` or `error`.",
      },
      tags: [
        { name: "authentication", description: "Logging in and API keys." },
        { name: "server_and_organizations", description: "The server and its organizations." },
        { name: "users", description: "The authenticated user and their keys." },
        { name: "bots", description: "The user's bots and their keys." },
        { name: "latchkey", description: "Latchkey's own endpoints." },
      ],
      components: {
        securitySchemes: {
          basicAuth: {
            type: "http",
            scheme: "basic",
            description: "The account's email (or bot's email) as the username and its API key as the password.",
          },
          sessionCookie: {
            type: "apiKey",
            in: "cookie",
            name: "sessionid",
            description: "A web-app session; state-changing requests also need the CSRF token.",
          },
        },
      },
    },
    transform: ({ schema, url }) => {
      const documented = url.startsWith("/api/v1/") || url.startsWith("/json/");
      return { schema: documented ? schema : { ...schema, hide: true }, url };
    },
    transformObject: (documentObject) =>
      finish(("openapiObject" in documentObject ? documentObject.openapiObject : {}) as Json) as never,
  });

  registerEndpoint(app, "/api/v1/openapi.json", {
    GET: {
      doc: {
        operationId: "get-openapi-document",
        summary: "This OpenAPI document",
        tags: ["latchkey"],
        description: "The OpenAPI 3.1 document of every `/api/v1` and `/json` operation this server routes.",
      },
      schema: { response: { 200: { type: "object", additionalProperties: true } } },
      handler: () => app.swagger(),
    },
  });
}
