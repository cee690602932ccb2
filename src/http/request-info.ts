/** Facts about a request that several routes need. */
import type { FastifyRequest } from "fastify";
import type { Context, LoginSource } from "../domain/context.js";
import type { Realm } from "../domain/model.js";
import { invalidSubdomain } from "../errors.js";

/** Zulip's `get_realm_from_request`, raising 404 NONEXISTENT_SUBDOMAIN when there is none. */
export async function requireRealmFromRequest(ctx: Context, request: FastifyRequest): Promise<Realm> {
  const fromSession = request.principal?.realm;
  if (fromSession !== undefined) return fromSession;
  const realm = await ctx.stores.realms.findBySubdomain(request.subdomain);
  if (realm === null) throw invalidSubdomain();
  return realm;
}

/** The client name Zulip records: the `client` parameter, else the User-Agent. */
export function loginSource(request: FastifyRequest, client: string | undefined): LoginSource {
  const userAgent = request.headers["user-agent"] ?? "";
  return { ip: request.ip, userAgent, client: client ?? userAgent, requestId: request.id };
}
