/**
 * What the rules report for operators' metrics (`/metrics`): the port, a no-op for tools that
 * keep no metrics, and the one helper that classifies a login's outcome. The Prometheus side
 * lives in src/metrics.ts.
 */
import { RateLimitError, ServiceUnavailableError, ZulipError } from "../errors.js";
import type { RateDecision, RateLimiter } from "./rate-limiter.js";
import type { RateRule } from "./rate-rules.js";

/** Where a password login came in. */
export type LoginSource = "api" | "json" | "web" | "dev";

/** How it ended: logged in, refused (wrong password, deactivated, ...), throttled, unavailable (a 503), or an unexpected error. */
export type LoginOutcome = "success" | "refused" | "throttled" | "unavailable" | "error";

export interface Telemetry {
  login(source: LoginSource, outcome: LoginOutcome): void;
  /** A rate-limit rule refused a request; `rule` is Zulip's name (`authenticate_by_username`, ...). */
  throttled(rule: string): void;
}

export const noTelemetry: Telemetry = { login() {}, throttled() {} };

/** The outcome a login that threw `err` counts as. */
export function loginOutcome(err: unknown): LoginOutcome {
  if (err instanceof RateLimitError) return "throttled";
  if (err instanceof ServiceUnavailableError) return "unavailable";
  return err instanceof ZulipError ? "refused" : "error";
}

/** Awaits `login` and counts its outcome under `source`. */
export async function observeLogin<T>(telemetry: Telemetry, source: LoginSource, login: Promise<T>): Promise<T> {
  try {
    const result = await login;
    telemetry.login(source, "success");
    return result;
  } catch (err) {
    telemetry.login(source, loginOutcome(err));
    throw err;
  }
}

/**
 * A limiter that reports each refusal to `telemetry` under its rule's name (the key's prefix,
 * `api_by_user` in `api_by_user:42`). Keeps the synchronous path of a limiter that has one.
 */
export function countRefusals(inner: RateLimiter, telemetry: Telemetry): RateLimiter {
  const note = (key: string, decision: RateDecision): RateDecision => {
    if (decision.limited) telemetry.throttled(key.slice(0, Math.max(0, key.indexOf(":"))) || key);
    return decision;
  };
  const hitNow = inner.hitNow?.bind(inner);
  return {
    hit: (key, rules) => inner.hit(key, rules).then((decision) => note(key, decision)),
    ...(hitNow === undefined ? {} : { hitNow: (key: string, rules: RateRule[]) => note(key, hitNow(key, rules)) }),
    clear: (key) => inner.clear(key),
  };
}
