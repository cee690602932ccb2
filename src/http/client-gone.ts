/** Noticing that a client left before its answer was sent. */
import type { FastifyReply } from "fastify";

/**
 * A signal that aborts when the connection closes before the answer has been written: the
 * client gave up or went away, so work still waiting on its behalf (a password hash in the
 * queue) can be dropped.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
