/**
 * Zulip's sliding-window rate limiter: each key keeps the timestamps of its recent events; an
 * event is refused when the N-th most recent one is still inside the rule's window.
 *
 * The decision is computed from a few facts per rule (how many events are in the window, the
 * oldest of them, the N-th most recent), so that the in-memory store and the Redis script
 * (`src/store/redis-rate-limiter.ts`) share one definition and neither allocates per request.
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Clock } from "./model.js";
import type { RateRule } from "./rate-rules.js";

export interface RateDecision {
  limited: boolean;
  /** Seconds until the next event would be allowed (0 when not limited). */
  secondsToFreedom: number;
  /** The smallest `max` among the rules: the X-RateLimit-Limit header. */
  limit: number;
  /** Events left before a rule refuses: the X-RateLimit-Remaining header. */
  remaining: number;
  /** Seconds until the window holding the events empties: for X-RateLimit-Reset. */
  resetSeconds: number;
  /** When the decision was taken (ms since the epoch, on the limiter's clock). */
  at: number;
}

export interface RateLimiter {
  /** Checks `key` against `rules` and, unless refused, records one event. */
  hit(key: string, rules: RateRule[]): Promise<RateDecision>;
  /** The same as `hit`, answered at once: offered by stores that decide in this process. */
  hitNow?(key: string, rules: RateRule[]): RateDecision;
  /** Forgets the history of `key` (after a successful login or a password change). */
  clear(key: string): Promise<void>;
}

/** A limiter together with the rules it applies: one of Zulip's rate-limit domains. */
export interface Limit {
  limiter: RateLimiter;
  rules: RateRule[];
}

/** What a rule needs to know about a history; -1 stands for "none" so facts fit a Redis reply. */
export interface RuleFacts {
  /** Events inside the rule's window. */
  count: number;
  /** The first in-window event in history order (the oldest of them), or -1. */
  oldest: number;
  /** The `max`-th most recent event, or -1 when there are fewer. */
  nth: number;
}

/**
 * The index of the first timestamp still inside a window of `windowMs` ending at `now`, in a
 * history kept oldest first: the ones before it are exactly those that have left the window.
 */
function firstInWindow(history: readonly number[], windowMs: number, now: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((history[mid] as number) + windowMs > now) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The facts for each rule from a history of timestamps (ms, oldest first): a binary search
 * per rule, so a long history costs no more than a short one.
 */
export function collectFacts(history: readonly number[], rules: readonly RateRule[], now: number): RuleFacts[] {
  const facts: RuleFacts[] = new Array(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as RateRule;
    const first = firstInWindow(history, rule.windowSeconds * 1000, now);
    const count = history.length - first;
    const nth = history.length >= rule.max ? (history[history.length - rule.max] as number) : -1;
    facts[i] = { count, oldest: count > 0 ? (history[first] as number) : -1, nth };
  }
  return facts;
}

/** Whether any rule refuses the next event. */
export function isLimited(facts: readonly RuleFacts[], rules: readonly RateRule[]): boolean {
  for (let i = 0; i < rules.length; i++) if ((facts[i] as RuleFacts).count >= (rules[i] as RateRule).max) return true;
  return false;
}

/** The decision the facts imply (before any event is recorded). */
export function decideFromFacts(facts: readonly RuleFacts[], rules: readonly RateRule[], now: number): RateDecision {
  let limited = false;
  let secondsToFreedom = 0;
  let limit = Number.POSITIVE_INFINITY;
  let remaining = Number.POSITIVE_INFINITY;
  let resetSeconds = 0;
  rules.forEach((rule, i) => {
    const { count, oldest, nth } = facts[i] as RuleFacts;
    const windowMs = rule.windowSeconds * 1000;
    limit = Math.min(limit, rule.max);
    if (count >= rule.max) {
      limited = true;
      secondsToFreedom = Math.max(secondsToFreedom, (nth + windowMs - now) / 1000);
    }
    remaining = Math.min(remaining, Math.max(0, rule.max - count));
    if (count > 0) resetSeconds = Math.max(resetSeconds, (oldest + windowMs - now) / 1000);
  });
  return { limited, secondsToFreedom, limit, remaining, resetSeconds, at: now };
}

/**
 * The decision reported after an event at `now` was recorded on top of `before`: the event
 * was allowed, so it is never "limited", even when it used the last slot.
 */
export function decideAfterHit(before: readonly RuleFacts[], rules: readonly RateRule[], now: number): RateDecision {
  let limit = Number.POSITIVE_INFINITY;
  let remaining = Number.POSITIVE_INFINITY;
  let resetSeconds = 0;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as RateRule;
    const facts = before[i] as RuleFacts;
    const count = facts.count + 1;
    const oldest = facts.count > 0 ? facts.oldest : now;
    limit = Math.min(limit, rule.max);
    remaining = Math.min(remaining, Math.max(0, rule.max - count));
    resetSeconds = Math.max(resetSeconds, (oldest + rule.windowSeconds * 1000 - now) / 1000);
  }
  return { limited: false, secondsToFreedom: 0, limit, remaining, resetSeconds, at: now };
}

/** Decides from a history of timestamps (ms, oldest first); shared by every store. */
export function decide(history: readonly number[], rules: readonly RateRule[], now: number): RateDecision {
  return decideFromFacts(collectFacts(history, rules, now), rules, now);
}

// Rule lists are configuration, built once: their bounds are computed once per list.
const windows = new WeakMap<readonly RateRule[], number>();
const histories = new WeakMap<readonly RateRule[], number>();

/** The longest window among the rules, in ms: how long a history must be kept. */
export function longestWindowMs(rules: readonly RateRule[]): number {
  let ms = windows.get(rules);
  if (ms === undefined) {
    ms = Math.max(...rules.map((r) => r.windowSeconds)) * 1000;
    windows.set(rules, ms);
  }
  return ms;
}

/** The largest `max` among the rules: how many timestamps a history must keep. */
export function longestHistory(rules: readonly RateRule[]): number {
  let max = histories.get(rules);
  if (max === undefined) {
    max = Math.max(...rules.map((r) => r.max));
    histories.set(rules, max);
  }
  return max;
}

const MAX_KEY_LENGTH = 128;

/**
 * The key as stored. Keys carry attacker-chosen text (a username can be as long as the body
 * limit), so long ones are replaced by their SHA-256: the memory a key costs stays bounded and
 * distinct keys keep distinct budgets.
 */
export function storageKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH) return key;
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

export interface MemoryLimiterBounds {
  /** At most this many keys are tracked (default 100,000). */
  maxKeys?: number;
  /** At most this many timestamps are kept over all keys (default 2,000,000, about 16 MB). */
  maxTimestamps?: number;
}

/**
 * The in-process store. Bounded in keys and in timestamps, least recently used dropped first,
 * so a flood of distinct usernames or addresses cannot exhaust memory. A dropped history only
 * makes that key's limit more lenient, never stricter.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly histories: LRUCache<string, number[]>;

  constructor(
    private readonly clock: Clock,
    bounds: MemoryLimiterBounds | number = {},
  ) {
    const { maxKeys = 100_000, maxTimestamps = 2_000_000 } = typeof bounds === "number" ? { maxKeys: bounds } : bounds;
    // Each history is charged the most it can ever hold (set at insertion), since it then
    // grows in place.
    this.histories = new LRUCache({ max: maxKeys, maxSize: maxTimestamps });
  }

  async hit(key: string, rules: RateRule[]): Promise<RateDecision> {
    return this.hitNow(key, rules);
  }

  hitNow(key: string, rules: RateRule[]): RateDecision {
    const now = this.clock.now();
    const id = storageKey(key);
    const cap = longestHistory(rules);
    let history = this.histories.get(id);
    if (history === undefined) {
      history = [];
      this.histories.set(id, history, { size: cap + 1 });
    }
    // Timestamps older than the longest window can never count again. The history is kept
    // oldest first, so they are a prefix: usually empty, or one or two entries.
    const expired = firstInWindow(history, longestWindowMs(rules), now);
    if (expired > 0) history.splice(0, expired);

    const facts = collectFacts(history, rules, now);
    if (isLimited(facts, rules)) return decideFromFacts(facts, rules, now);
    history.push(now);
    if (history.length > cap) history.splice(0, history.length - cap);
    return decideAfterHit(facts, rules, now);
  }

  async clear(key: string): Promise<void> {
    this.histories.delete(storageKey(key));
  }

  /** How many keys are tracked; for tests of the memory bound. */
  get size(): number {
    return this.histories.size;
  }
}
