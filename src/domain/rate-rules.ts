/** A rate-limit rule: at most `max` events in any window of `windowSeconds`. */
export interface RateRule {
  windowSeconds: number;
  max: number;
}

/**
 * Parses Zulip-style rules written as `secs:count,secs:count` (for example `1800:5`).
 * An empty list means Zulip's "no limit" rule `[(1, 9999)]`.
 */
export function parseRateRules(text: string): RateRule[] {
  const trimmed = text.trim();
  if (trimmed === "") return [{ windowSeconds: 1, max: 9999 }];
  return trimmed.split(",").map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`expected rules like 1800:5 separated by commas, got ${JSON.stringify(part)}`);
    const windowSeconds = Number(m[1]);
    const max = Number(m[2]);
    if (windowSeconds < 1 || max < 1) throw new Error(`window and count must be positive in ${JSON.stringify(part)}`);
    return { windowSeconds, max };
  });
}
