/** What Latchkey attaches to each Fastify request. */
import type { Principal } from "../domain/key-cache.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who authenticated this request (Basic auth or session); null when nobody did. */
    principal: Principal | null;
    /** Parameters a route read, for `ignored_parameters_unsupported`. */
    processedParams: Set<string> | null;
    /** The organization subdomain of the request's Host. */
    subdomain: string;
  }
}
