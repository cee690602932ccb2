/** Request ids: a random per-process prefix and a counter, unique across nodes and restarts. */
import { randomBytes } from "node:crypto";

const REQUEST_ID_PREFIX = randomBytes(6).toString("hex");
let requestCount = 0;

/** The next request id of this process. */
export function newRequestId(): string {
  return `${REQUEST_ID_PREFIX}-${(++requestCount).toString(36)}`;
}
