/**
 * Zulip's rules for a password that is being set: 6 to 100 characters and a zxcvbn estimate of
 * at least 10,000 guesses (docs/zulip-rules.md §4.2). Also used to refuse to carry a weak imported password forward.
 */
import { zxcvbn, zxcvbnOptions } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";

export const PASSWORD_MIN_LENGTH = 6;
export const PASSWORD_MAX_LENGTH = 100;
export const PASSWORD_MIN_GUESSES = 10_000;

let configured = false;

function configure(): void {
  if (configured) return;
  zxcvbnOptions.setOptions({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
  configured = true;
}

/** zxcvbn's estimate of the guesses needed to find `password`. */
export function estimateGuesses(password: string): number {
  configure();
  return zxcvbn(password.slice(0, PASSWORD_MAX_LENGTH)).guesses;
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `The password is too short (at least ${PASSWORD_MIN_LENGTH} characters).`;
  if (length > PASSWORD_MAX_LENGTH) return `The password is too long (at most ${PASSWORD_MAX_LENGTH} characters).`;
  if (estimateGuesses(password) < PASSWORD_MIN_GUESSES) return "The password is too weak.";
  return null;
}

/** Django's cap on a password's length (bytes) before it is hashed (security.md). */
export const MAX_PASSWORD_BYTES = 4096;

/** True when a password is too long to hash (a denial-of-service guard, not a policy). */
export function isOversizedPassword(password: string): boolean {
  return Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES;
}
