/**
 * `GET /health/live` and `GET /health/ready`, for load balancers and orchestrators. Live: the
 * process answers. Ready: the database answers, and Redis when it is configured; a node that
 * is shutting down answers 503 to both (Fastify's `return503OnClosing`), so a balancer stops
 * sending it work before it exits.
 */
import type { FastifyInstance } from "fastify";
import type { KeyCache } from "../../domain/key-cache.js";

/** One dependency the node needs to serve requests. */
export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects (or takes longer than the timeout) otherwise. */
  check(): Promise<unknown>;
}

const CHECK_TIMEOUT_MS = 2000;

const statusSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    status: { type: "string" },
    checks: { type: "object", additionalProperties: { type: "string" } },
    key_cache: { type: "string" },
  },
} as const;

async function run(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      check.check().then(
        () => "ok",
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: FastifyInstance, checks: ReadinessCheck[], keyCache: KeyCache): void {
  app.get("/health/live", { schema: { response: { 200: statusSchema } } }, async () => ({ status: "ok" }));
  app.get("/health/ready", { schema: { response: { 200: statusSchema, 503: statusSchema } } }, async (_request, reply) => {
    const results = await Promise.all(checks.map(run));
    const report: Record<string, string> = {};
    checks.forEach((c, i) => {
      report[c.name] = results[i] as string;
    });
    const ok = results.every((r) => r === "ok");
    reply.code(ok ? 200 : 503);
    // Informational: a node whose invalidation channel is down still answers correctly (from
    // the database), so it stays ready.
    return { status: ok ? "ok" : "unavailable", checks: report, key_cache: keyCache.trusted ? "trusted" : "bypassed" };
  });
}
