/**
 * `GET /api/v1/latchkey/api_key/last_use` (a Latchkey extension, under `/latchkey/` so that it
 * cannot collide with a Zulip endpoint): when, from where and by which client the caller's
 * current key was last used.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Context } from "../../domain/context.js";
import type { Principal } from "../../domain/key-cache.js";
import { registerEndpoint } from "../endpoint.js";
import { successSchema } from "../schemas.js";

const lastUseSchema = successSchema(
  {
    last_use: {
      type: ["object", "null"],
      additionalProperties: false,
      properties: {
        timestamp: { type: "integer" },
        ip: { type: "string" },
        client: { type: "string" },
      },
    },
  },
  ["last_use"],
);

export function registerLastUse(
  app: FastifyInstance,
  ctx: Context,
  authenticate: (request: FastifyRequest) => void | Promise<void>,
): void {
  registerEndpoint(app, "/api/v1/latchkey/api_key/last_use", {
    GET: {
      typed: true,
      authenticate,
      doc: {
        operationId: "get-api-key-last-use",
        summary: "When and from where the API key was last used",
        tags: ["latchkey"],
      },
      schema: { response: { 200: lastUseSchema } },
      handler: async (request) => {
        const { user } = request.principal as Principal;
        // This very request may have started a write: wait for it, so the answer includes it.
        await ctx.keyUse?.flush();
        const sealed = await ctx.stores.users.getSealedApiKey(user.id);
        const use = sealed === null ? null : await ctx.stores.keyUses.find(sealed.digest);
        return {
          result: "success",
          msg: "",
          last_use: use === null ? null : { timestamp: Math.floor(use.usedAt / 1000), ip: use.ip, client: use.client },
        };
      },
    },
  });
}
