/**
 * Connections that cannot be held hostage: what the HTTP server does with a client that sends
 * its headers or body too slowly, headers too large, or bytes that are not HTTP. Node's own
 * answers (and Fastify's `{"error","message","statusCode"}`) are replaced by Zulip's envelope
 * with a request id, a log line and a count in `/metrics`.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";

/**
 * How many requests one connection may carry (nginx's `keepalive_requests` default); the last
 * answer says `Connection: close`, and a connection that pipelines past it is closed.
 */
export const MAX_REQUESTS_PER_SOCKET = 1000;
/** A request in progress whose connection shows no traffic for this long is cut. */
export const CONNECTION_TIMEOUT_MS = 30_000;
/** How often the server looks for requests past their header or request timeout. */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

export interface ClientErrorSink {
  log: FastifyBaseLogger;
  newRequestId(): string;
  /** Counts the refusal; `reason` is `bad_request`, `timeout`, `header_overflow` or `stalled`. */
  count(reason: string): void;
}

function classify(code: string | undefined): { status: number; msg: string; reason: string } {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT")
    return { status: 408, msg: "Request timeout: the request was not sent in time", reason: "timeout" };
  if (code === "HPE_HEADER_OVERFLOW") return { status: 431, msg: "Request header fields too large", reason: "header_overflow" };
  return { status: 400, msg: "Malformed HTTP request", reason: "bad_request" };
}

/** Fastify's `clientErrorHandler`: the envelope, the request id, a log line and a count. */
export function makeClientErrorHandler(sink: () => ClientErrorSink): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody to answer.
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const { status, msg, reason } = classify(err.code);
    const { log, newRequestId, count } = sink();
    const reqId = newRequestId();
    count(reason);
    log.info(
      { reqId, reason, err: { code: err.code }, remoteAddress: socket.remoteAddress },
      "request refused by the HTTP layer",
    );
    if (socket.writable) {
      const body = `${JSON.stringify({ result: "error", msg, code: "BAD_REQUEST", request_id: reqId })}\n`;
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Request-Id: ${reqId}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
