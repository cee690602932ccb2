/**
 * What a rate limit does when its shared store (Redis) cannot be reached. Password logins and
 * password-reset emails fail closed: without a shared count, N nodes would allow N times the
 * attempts. Per-user and per-IP API limits fall back to the process's own memory, so that API
 * key checks keep working through an outage.
 */
import { serviceUnavailable } from "../errors.js";
import type { Clock } from "./model.js";
import type { RateDecision, RateLimiter } from "./rate-limiter.js";
import type { RateRule } from "./rate-rules.js";

export interface PolicyLog {
  warn(obj: object, msg?: string): void;
}

/**
 * Refuses the guarded action with a 503 when the store fails. A failed `clear` is only logged:
 * a history that was not cleared makes the limit stricter, never looser.
 */
export class FailClosedLimiter implements RateLimiter {
  constructor(
    private readonly inner: RateLimiter,
    /** The 503's message, naming what is refused. */
    private readonly refusal: string,
    private readonly log: PolicyLog,
  ) {}

  async hit(key: string, rules: RateRule[]): Promise<RateDecision> {
    try {
      return await this.inner.hit(key, rules);
    } catch (err) {
      this.log.warn({ err: describe(err) }, "rate-limit store unreachable; refusing the attempt");
      throw serviceUnavailable(this.refusal);
    }
  }

  async clear(key: string): Promise<void> {
    try {
      await this.inner.clear(key);
    } catch (err) {
      this.log.warn({ err: describe(err) }, "rate-limit store unreachable; history not cleared");
    }
  }
}

/** How long the shared store is left alone after a failure before it is tried again. */
export const RETRY_SHARED_STORE_MS = 5000;

/**
 * Uses `primary` (Redis) and, while it fails, `fallback` (memory). After a failure the primary
 * is not tried again for a few seconds, so a hung store does not add its timeout to every
 * request. One warning per outage.
 */
export class FallbackLimiter implements RateLimiter {
  private retryAt = 0;
  private down = false;

  constructor(
    private readonly primary: RateLimiter,
    private readonly fallback: RateLimiter,
    private readonly clock: Clock,
    private readonly log: PolicyLog,
  ) {}

  async hit(key: string, rules: RateRule[]): Promise<RateDecision> {
    if (this.clock.now() >= this.retryAt) {
      try {
        const decision = await this.primary.hit(key, rules);
        if (this.down) {
          this.down = false;
          this.log.warn({}, "rate-limit store reachable again; shared limits restored");
        }
        return decision;
      } catch (err) {
        this.retryAt = this.clock.now() + RETRY_SHARED_STORE_MS;
        if (!this.down) {
          this.down = true;
          this.log.warn({ err: describe(err) }, "rate-limit store unreachable; counting in this process until it returns");
        }
      }
    }
    return this.fallback.hit(key, rules);
  }

  async clear(key: string): Promise<void> {
    await this.fallback.clear(key);
    try {
      await this.primary.clear(key);
    } catch {
      // Already reported by hit(); the fallback's history is cleared.
    }
  }
}

/** An error's name and message only: store errors can carry connection strings. */
function describe(err: unknown): { name: string; message: string } {
  if (err instanceof Error) return { name: err.name, message: err.message.replace(/\/\/[^@\s]*@/g, "//[redacted]@") };
  return { name: "Error", message: String(err) };
}
