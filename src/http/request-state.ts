/** What Latchkey attaches to each Fastify request. */
import type { Principal } from "../domain/key-cache.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who authenticated this request (Basic auth or session); null when nobody did. */
    principal: Principal | null;
    /** The lookup digest of the API key that authenticated this request (Basic auth); else null. */
    apiKeyDigest: string | null;
    /** Parameters a route read, for `ignored_parameters_unsupported`. */
    processedParams: Set<string> | null;
    /** The organization subdomain of the request's Host. */
    subdomain: string;
  }
}
