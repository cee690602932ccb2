/**
 * The one place errors become responses: Zulip's JSON envelope for every client mistake, and
 * a generic 500 with a request id for anything unexpected. Also the JSON 404, which checks
 * credentials first so that a bad key on an unknown path is a 401.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { MESSAGES, ZulipError } from "../../errors.js";
import { writeRateLimitHeaders } from "./rate-limits.js";

/** Fastify and plugin errors that are the client's fault, in Zulip's words where it has them. */
function fromFrameworkError(err: FastifyError): ZulipError | null {
  const status = err.statusCode ?? 500;
  if (status >= 500) return null;
  if (status === 413) {
    return new ZulipError("Request body too large", { status: 413, code: "REQUEST_TOO_LARGE" });
  }
  if (status === 415) {
    return new ZulipError("Unsupported content type", { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" });
  }
  // Malformed bodies, bad content-length, multipart without a boundary and so on.
  return new ZulipError(`Malformed request: ${err.message}`, { status: status === 404 ? 404 : 400 });
}

function send(reply: FastifyReply, error: ZulipError): FastifyReply {
  // Error answers carry the request id, so a report can be matched to the server's log.
  reply.code(error.status).headers(error.headers).header("x-request-id", reply.request.id).type("application/json");
  writeRateLimitHeaders(reply.request, reply);
  return reply.send(error.toBody());
}

export interface NotFoundOptions {
  /** Runs the credential check a REST endpoint would (throws its 401s). */
  authenticate: (request: FastifyRequest) => void | Promise<void>;
  /** Answers a browser's request for a missing page with a page; null leaves it to the JSON 404. */
  notFoundPage?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | null;
}

/**
 * Fastify's `frameworkErrors` hook: errors found before routing (an URL that cannot be
 * decoded) get the JSON envelope and a request id too.
 */
export function sendFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  request.log.info({ err: { code: err.code } }, "rejected malformed request");
  reply.header("x-request-id", request.id);
  send(reply, new ZulipError("Malformed request: the URL cannot be decoded", { status: 400 }));
}

export function registerErrorEnvelope(app: FastifyInstance, options: NotFoundOptions): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ZulipError) return send(reply, err);
    const clientError = fromFrameworkError(err);
    if (clientError !== null) {
      request.log.info({ err: { code: err.code, message: err.message } }, "rejected malformed request");
      return send(reply, clientError);
    }
    request.log.error({ err }, "unhandled error");
    reply.code(500).header("x-request-id", request.id).type("application/json");
    return reply.send({ result: "error", msg: MESSAGES.internal, request_id: request.id });
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split("?", 1)[0] ?? "";
    if ((path.startsWith("/api/") || path.startsWith("/json/")) && request.headers.authorization !== undefined) {
      await options.authenticate(request);
    }
    return options.notFoundPage?.(request, reply) ?? send(reply, new ZulipError("Not Found", { status: 404 }));
  });
}
