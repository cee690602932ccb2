/**
 * A plain model of Zulip's sliding-window limiter, and random sequences of operations on it,
 * for checking the real stores (memory, Redis) against.
 */
import fc from "fast-check";
import type { RateDecision } from "../src/domain/rate-limiter.js";
import type { RateRule } from "../src/domain/rate-rules.js";
import type { ManualClock } from "./helper.js";

/**
 * docs/zulip-rules.md §4.5 as written: a list of timestamps per key; over the limit when the N-th most recent one
 * is inside the window; every allowed attempt is recorded; clear forgets.
 */
export class ReferenceLimiter {
  private readonly histories = new Map<string, number[]>();
  constructor(private readonly clock: ManualClock) {}

  hit(key: string, rules: RateRule[]): RateDecision {
    const now = this.clock.now();
    const history = this.histories.get(key) ?? [];
    const limitedRules = rules.filter((r) => {
      const nth = history[history.length - r.max];
      return nth !== undefined && nth + r.windowSeconds * 1000 > now;
    });
    if (limitedRules.length === 0) history.push(now);
    this.histories.set(key, history);
    const inWindow = (r: RateRule) => history.filter((t) => t + r.windowSeconds * 1000 > now);
    const resetSeconds = Math.max(
      0,
      ...rules.map((r) => {
        const oldest = inWindow(r)[0];
        return oldest === undefined ? 0 : (oldest + r.windowSeconds * 1000 - now) / 1000;
      }),
    );
    return {
      limited: limitedRules.length > 0,
      secondsToFreedom: Math.max(
        0,
        ...limitedRules.map((r) => ((history[history.length - r.max] as number) + r.windowSeconds * 1000 - now) / 1000),
      ),
      limit: Math.min(...rules.map((r) => r.max)),
      remaining: Math.min(...rules.map((r) => Math.max(0, r.max - inWindow(r).length))),
      resetSeconds,
      at: now,
    };
  }

  clear(key: string): void {
    this.histories.delete(key);
  }
}

export type Op = { kind: "advance"; ms: number } | { kind: "hit"; key: string } | { kind: "clear"; key: string };

/** A few window lengths, so that random waits often match one exactly. */
const WINDOWS = [1, 2, 5, 60, 120];

export const rulesArb = fc.array(fc.record({ windowSeconds: fc.constantFrom(...WINDOWS), max: fc.integer({ min: 1, max: 8 }) }), {
  minLength: 1,
  maxLength: 3,
});

export const opsArb = fc.array(
  fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("advance" as const),
        // Often a whole window, so that events land exactly on a window's edge.
        ms: fc.oneof(
          fc.integer({ min: 0, max: 90_000 }),
          fc.constantFrom(...WINDOWS).map((s) => s * 1000),
          fc.integer({ min: 0, max: 2 }),
        ),
      }),
    },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("hit" as const), key: fc.constantFrom("a", "b", "c") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), key: fc.constantFrom("a", "b", "c") }) },
  ),
  { maxLength: 60 },
);

/** Cases worth checking on every run: events exactly one window apart, and a second rule. */
export const edgeExamples: [RateRule[], Op[]][] = [
  [
    [{ windowSeconds: 1, max: 1 }],
    [
      { kind: "hit", key: "a" },
      { kind: "advance", ms: 1000 },
      { kind: "hit", key: "a" },
      { kind: "advance", ms: 999 },
      { kind: "hit", key: "a" },
    ],
  ],
  [
    [
      { windowSeconds: 5, max: 2 },
      { windowSeconds: 60, max: 3 },
    ],
    [
      { kind: "hit", key: "a" },
      { kind: "hit", key: "a" },
      { kind: "hit", key: "a" },
      { kind: "advance", ms: 5000 },
      { kind: "hit", key: "a" },
      { kind: "hit", key: "a" },
      { kind: "clear", key: "a" },
      { kind: "hit", key: "a" },
      { kind: "advance", ms: 60_000 },
      { kind: "hit", key: "a" },
    ],
  ],
];
