/**
 * Comparing secrets (tokens, OTPs, derived keys) without leaking through timing where they
 * first differ or how long the expected one is.
 */
import { timingSafeEqual } from "node:crypto";

/** Every comparison reads at least this many bytes, so short secrets do not reveal their length. */
const MIN_COMPARED_BYTES = 64;

function padded(value: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  value.copy(out);
  return out;
}

/**
 * True when `a` and `b` hold the same bytes (strings as UTF-8). Both sides are padded to the
 * same length (at least 64 bytes) before a constant-time comparison, so the time taken depends
 * neither on where they differ nor on the length of the secret; the lengths are compared after.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const left = typeof a === "string" ? Buffer.from(a, "utf8") : a;
  const right = typeof b === "string" ? Buffer.from(b, "utf8") : b;
  const length = Math.max(left.length, right.length, MIN_COMPARED_BYTES);
  const same = timingSafeEqual(padded(left, length), padded(right, length));
  return same && left.length === right.length;
}
