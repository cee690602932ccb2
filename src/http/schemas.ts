/**
 * Response schemas. They are whitelists: a field not named here is never serialized, so a
 * secret cannot leak by accident.
 */

const successBase = {
  result: { type: "string", enum: ["success"] },
  msg: { type: "string" },
  ignored_parameters_unsupported: { type: "array", items: { type: "string" } },
} as const;

export function successSchema(properties: Record<string, unknown>, required: string[] = []) {
  return {
    type: "object",
    additionalProperties: false,
    properties: { ...successBase, ...properties },
    required: ["result", "msg", ...required],
  };
}

/** OpenAPI `ApiKeyResponse`. */
export const apiKeyResponse = successSchema(
  { api_key: { type: "string" }, email: { type: "string" }, user_id: { type: "integer" } },
  ["api_key", "email"],
);
