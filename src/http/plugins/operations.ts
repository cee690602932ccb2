/**
 * What operators need from every request: the request id carried into everything the request
 * awaits (so every log line written while serving it names it), its latency counted by route,
 * and `/metrics` on the main port when it is served there.
 */
import type { FastifyInstance } from "fastify";
import { enterRequestScope } from "../../logging.js";

/** The metrics side the HTTP layer needs (src/metrics.ts implements it). */
export interface HttpMetrics {
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export interface OperationsOptions {
  metrics: HttpMetrics | null;
  /** Route `GET /metrics` on this app (false when metrics are off or have a port of their own). */
  serveMetrics: boolean;
}

export function registerOperations(app: FastifyInstance, { metrics, serveMetrics }: OperationsOptions): void {
  // The rest of the request's handling runs inside the scope; entered again after the body is
  // read, because the body's stream events come from the connection, not from this call.
  app.addHook("onRequest", (request, _reply, done) => enterRequestScope(request.id, done));
  app.addHook("preValidation", (request, _reply, done) => enterRequestScope(request.id, done));
  if (metrics !== null) {
    app.addHook("onResponse", (request, reply, done) => {
      metrics.observeRequest(request.routeOptions.url ?? "unrouted", request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
  if (serveMetrics && metrics !== null) {
    app.get("/metrics", async (_request, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.type(contentType).send(body);
    });
  }
}
