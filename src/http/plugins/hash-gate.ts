/**
 * Turning logins away while the password hasher is full, before they cost anything: a route that
 * opts in (`config: { needsHasher: true }`) checks the hash queue's room first thing, before its
 * body is read, its organization looked up or any limit counted, and answers the queue's 503 with
 * Retry-After at once. A storm of logins beyond capacity then costs little more than the HTTP
 * exchange itself. (The check inside the login, src/domain/login.ts, stays for every other path.)
 */
import type { FastifyInstance, onRequestHookHandler } from "fastify";
import type { Context } from "../../domain/context.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route hashes a password: refuse it at once while the hasher's queue is full. */
    needsHasher?: boolean;
  }
}

/** Must be registered after the rate limits, so that this check runs before theirs. */
export function registerHashGate(app: FastifyInstance, ctx: Context): void {
  const assertCapacity = ctx.hasher.assertCapacity?.bind(ctx.hasher);
  if (assertCapacity === undefined) return;
  const gate: onRequestHookHandler = (_request, _reply, done) => {
    assertCapacity();
    done();
  };
  app.addHook("onRoute", (route) => {
    if (route.config?.needsHasher !== true) return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [gate, ...existing];
  });
}
