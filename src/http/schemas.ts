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
export const apiKeyResponse = {
  ...successSchema(
    {
      api_key: { type: "string", description: "The API key that can be used to authenticate as the requested user." },
      email: { type: "string", description: "The email address of the user who owns the API key." },
      user_id: { type: "integer", description: "The unique ID of the user who owns the API key." },
    },
    ["api_key", "email", "user_id"],
  ),
  title: "ApiKeyResponse",
};

/** The parameters of a login: the username (an email, or an LDAP username) and the password. */
export const loginParams = {
  username: {
    description: "The username to log in as: the account's email, or its LDAP username where the organization uses LDAP.",
    required: true,
  },
  password: { description: "The account's password.", required: true },
};
