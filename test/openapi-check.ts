/**
 * Checks answers against docs/openapi.json: the status must be one the document lists for the
 * operation, and a JSON body must be valid against the response's schema. The test helper
 * hooks this into every app it builds, so no test can receive an answer the document does not
 * describe.
 */
import { readFileSync } from "node:fs";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

type Json = Record<string, unknown>;

export const OPENAPI_PATH = new URL("../docs/openapi.json", import.meta.url);

const document = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as Json & {
  paths: Record<string, Record<string, Json>>;
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(document, "openapi");

const validators = new Map<string, ValidateFunction>();

function pointer(...parts: string[]): string {
  return parts.map((part) => part.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
}

/** The response object, following a `$ref` to `#/components/responses/...`. */
function resolveResponse(response: Json): Json {
  const ref = response.$ref;
  if (typeof ref !== "string") return response;
  const name = ref.replace("#/components/responses/", "");
  const components = document.components as { responses: Record<string, Json> };
  return components.responses[name] as Json;
}

function validatorFor(path: string, method: string, status: string, response: Json): ValidateFunction | null {
  const key = `${method} ${path} ${status}`;
  const known = validators.get(key);
  if (known !== undefined) return known;
  const resolved = resolveResponse(response);
  const content = resolved.content as Record<string, { schema?: Json }> | undefined;
  const schema = content?.["application/json"]?.schema;
  if (schema === undefined) return null;
  const at =
    typeof response.$ref === "string"
      ? `openapi#/${pointer("components", "responses", response.$ref.replace("#/components/responses/", ""), "content", "application/json", "schema")}`
      : `openapi#/${pointer("paths", path, method, "responses", status, "content", "application/json", "schema")}`;
  const validate = ajv.compile({ $ref: at });
  validators.set(key, validate);
  return validate;
}

/** `/api/v1/bots/:bot_id(^\d+$)` → `/api/v1/bots/{bot_id}`, as the document writes paths. */
function documentPath(routeUrl: string): string {
  return routeUrl.replace(/:(\w+)(\([^)]*\))?/g, "{$1}");
}

function bodyText(payload: unknown): string | null {
  if (typeof payload === "string") return payload;
  if (Buffer.isBuffer(payload)) return payload.toString("utf8");
  return null;
}

/** What is wrong with this answer by the document, or null when it is as documented (or undocumented). */
export function checkAnswer(request: FastifyRequest, status: number, contentType: string, payload: unknown): string | null {
  const routeUrl = request.routeOptions.url;
  if (routeUrl === undefined) return null;
  const path = documentPath(routeUrl);
  const method = request.method === "HEAD" ? "get" : request.method.toLowerCase();
  const operation = document.paths[path]?.[method];
  // Paths and methods the document does not describe: the 404s and 405s of the router.
  if (operation === undefined) return null;
  const where = `${request.method} ${request.url} → ${status}`;
  const responses = operation.responses as Record<string, Json>;
  const response = responses[String(status)];
  if (response === undefined) return `${where}: status ${status} is not documented for ${method.toUpperCase()} ${path}`;
  if (request.method === "HEAD") return null;
  const validate = validatorFor(path, method, String(status), response);
  if (validate === null) return null;
  if (!contentType.startsWith("application/json")) return `${where}: content type ${contentType}, documented as JSON`;
  const text = bodyText(payload);
  if (text === null) return `${where}: the body is a stream, documented as JSON`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `${where}: the body is not JSON: ${text.slice(0, 200)}`;
  }
  if (validate(body)) return null;
  return `${where}: the body does not match the documented schema: ${ajv.errorsText(validate.errors)}; body ${text.slice(0, 500)}`;
}

/** Every mismatch seen by this process; a non-empty list fails it at exit. */
export const mismatches: string[] = [];

process.on("exit", () => {
  if (mismatches.length === 0) return;
  console.error(`Answers that do not match docs/openapi.json:\n${mismatches.join("\n")}`);
  process.exitCode = 1;
});

/**
 * Checks every answer the app sends. A mismatch is recorded (failing the test process) and the
 * answer is replaced by a 500 naming it, so the test that received it fails where it stands.
 */
export function checkAnswersAgainstDocument(app: FastifyInstance): void {
  app.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    // The connection is already closed (the client gave up): nobody receives this answer.
    if (reply.raw.destroyed || request.raw.destroyed) return payload;
    const contentType = String(reply.getHeader("content-type") ?? "");
    const problem = checkAnswer(request, reply.statusCode, contentType, payload);
    if (problem === null) return payload;
    mismatches.push(problem);
    reply.code(500).type("application/json");
    return `${JSON.stringify({ result: "error", msg: `Answer does not match docs/openapi.json: ${problem}` })}\n`;
  });
}
