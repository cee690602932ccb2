/**
 * `POST /api/v1/users/me/api_key/regenerate` (docs/zulip-rules.md §7.1) and the legacy push-token endpoints (§11).
 * Regeneration is routed only under /api/v1, so it needs Basic auth with the current key: the
 * /json twin is a 404 and a session alone is a 401.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Context } from "../../domain/context.js";
import type { Principal } from "../../domain/key-cache.js";
import { regenerateApiKey } from "../../domain/key-lifecycle.js";
import { addPushToken, type PushKind, removePushToken, requireHuman } from "../../domain/push-devices.js";
import { MESSAGES, unauthorizedBasic, ZulipError } from "../../errors.js";
import { changeSource } from "../client-name.js";
import { type ParamDoc, registerEndpoint } from "../endpoint.js";
import { requireParam } from "../params.js";
import { successSchema } from "../schemas.js";

type Authenticate = (request: FastifyRequest) => void | Promise<void>;

export const apiKeySchema = successSchema({ api_key: { type: "string" } }, ["api_key"]);
const emptySuccess = successSchema({});

const APP_ID_FORMAT = /^[.a-zA-Z0-9-]+$/;
const MAX_APP_ID_LENGTH = 255;

export function registerKeyLifecycle(app: FastifyInstance, ctx: Context, authenticate: Authenticate): void {
  registerEndpoint(app, "/api/v1/users/me/api_key/regenerate", {
    POST: {
      authenticate,
      doc: {
        operationId: "regenerate-api-key",
        summary: "Regenerate own API key",
        description:
          "Replaces the authenticated user's API key with a new one and returns it; the old key stops working at once. Needs Basic authentication with the current key.",
        tags: ["users"],
      },
      schema: { response: { 200: apiKeySchema } },
      handler: async (request) => {
        const { user } = request.principal as Principal;
        // The key that authenticated this request: it is replaced only if it is still current.
        const key = await regenerateApiKey(ctx, {
          user,
          acting: user,
          source: changeSource(request),
          expectedDigest: request.apiKeyDigest as string,
        });
        // Another regeneration replaced this key after it was checked: it is no longer valid.
        if (key === null) throw unauthorizedBasic(MESSAGES.invalidApiKey);
        return { result: "success", msg: "", api_key: key };
      },
    },
  });

  const pushTokenRoutes = (url: string, kind: PushKind) => {
    const token = { description: "The device's push token.", required: true };
    const params: Record<string, ParamDoc> =
      kind === "apns" ? { token, appid: { description: "The app's id (reverse-DNS).", required: true } } : { token };
    const name = kind === "apns" ? "apns" : "fcm";
    return registerEndpoint(app, url, {
      POST: {
        typed: true,
        authenticate,
        doc: {
          operationId: `add-${name}-token`,
          summary: `Add a${kind === "apns" ? "n APNs" : "n FCM"} device token`,
          tags: ["users"],
          params,
        },
        schema: { response: { 200: emptySuccess } },
        handler: async (request) => {
          const { user } = request.principal as Principal;
          requireHuman(user);
          const token = requireParam(request, "token");
          let appId: string | null = null;
          if (kind === "apns") {
            appId = requireParam(request, "appid");
            if (!APP_ID_FORMAT.test(appId)) throw new ZulipError("appid has invalid format");
            // The column holds 255 characters; real app ids are reverse-DNS names far shorter.
            if (appId.length > MAX_APP_ID_LENGTH) {
              throw new ZulipError(`appid is too long (limit: ${MAX_APP_ID_LENGTH} characters)`);
            }
          }
          await addPushToken(ctx, user, kind, token, appId);
          return { result: "success", msg: "" };
        },
      },
      DELETE: {
        typed: true,
        authenticate,
        doc: {
          operationId: `remove-${name}-token`,
          summary: `Remove a${kind === "apns" ? "n APNs" : "n FCM"} device token`,
          tags: ["users"],
          params: { token },
        },
        schema: { response: { 200: emptySuccess } },
        handler: async (request) => {
          const { user } = request.principal as Principal;
          requireHuman(user);
          await removePushToken(ctx, user, kind, requireParam(request, "token"));
          return { result: "success", msg: "" };
        },
      },
    });
  };
  pushTokenRoutes("/api/v1/users/me/apns_device_token", "apns");
  pushTokenRoutes("/api/v1/users/me/android_gcm_reg_id", "fcm");
}
