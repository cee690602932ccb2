/** Noticing that a client left before its answer was sent. */
import type { FastifyReply } from "fastify";

/** The abort reason: a plain value, so aborting costs no DOMException and its stack. */
const CLIENT_GONE = "client gone";

/**
 * A signal that aborts when the connection closes before the answer has been written: the
 * client gave up or went away, so work still waiting on its behalf (a password hash in the
 * queue) can be dropped.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort(CLIENT_GONE);
  });
  return controller.signal;
}
