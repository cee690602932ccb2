/**
 * The rate-limit store shared by every node: Zulip's sliding window kept in Redis, one list of
 * timestamps per key (newest first), checked and updated by one Lua script so that concurrent
 * nodes cannot both take the last slot. One round trip per check.
 *
 * Written here rather than with rate-limiter-flexible: its limiters count in fixed or rolling
 * buckets, not Zulip's "N-th most recent timestamp" rule, and success must clear the history.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Clock } from "../domain/model.js";
import {
  decideAfterHit,
  decideFromFacts,
  longestHistory,
  longestWindowMs,
  type RateDecision,
  type RateLimiter,
  type RuleFacts,
  storageKey,
} from "../domain/rate-limiter.js";
import type { RateRule } from "../domain/rate-rules.js";

/**
 * KEYS[1] the history list, newest first. ARGV: now (ms), the longest history, the longest
 * window (ms), then a window (ms) and a max per rule. Returns {limited, count, oldest, nth, ...}
 * with the facts of `collectFacts` (src/domain/rate-limiter.ts) as they were before this event,
 * -1 for "none"; when not limited, the event is recorded.
 */
const HIT_SCRIPT = `
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local raw = redis.call('LRANGE', KEYS[1], 0, cap - 1)
local history = {}
for i = 1, #raw do history[i] = tonumber(raw[i]) end
local n = #history
local reply = {0}
local limited = 0
for r = 4, #ARGV, 2 do
  local window = tonumber(ARGV[r])
  local max = tonumber(ARGV[r + 1])
  local count = 0
  local oldest = -1
  for i = 1, n do
    if history[i] + window > now then
      count = count + 1
      oldest = history[i]
    end
  end
  local nth = -1
  if n >= max then nth = history[max] end
  if count >= max then limited = 1 end
  reply[#reply + 1] = count
  reply[#reply + 1] = oldest
  reply[#reply + 1] = nth
end
reply[1] = limited
if limited == 0 then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, cap - 1)
  redis.call('PEXPIRE', KEYS[1], keep)
end
return reply
`;

const HIT_SHA = createHash("sha1").update(HIT_SCRIPT).digest("hex");

/** Zulip's sliding-window limiter over Redis; several processes sharing it share one budget. */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    /** Prefix of every key, so that several deployments (or tests) can share one Redis. */
    private readonly prefix = "latchkey:rate:",
  ) {}

  async hit(key: string, rules: RateRule[]): Promise<RateDecision> {
    // Whole milliseconds: the script stores timestamps as decimal strings.
    const now = Math.floor(this.clock.now());
    const args: (string | number)[] = [now, longestHistory(rules), longestWindowMs(rules)];
    for (const rule of rules) args.push(rule.windowSeconds * 1000, rule.max);
    const reply = await this.run(this.prefix + storageKey(key), args);
    const facts: RuleFacts[] = rules.map((_, i) => ({
      count: reply[1 + 3 * i] as number,
      oldest: reply[2 + 3 * i] as number,
      nth: reply[3 + 3 * i] as number,
    }));
    return reply[0] === 1 ? decideFromFacts(facts, rules, now) : decideAfterHit(facts, rules, now);
  }

  async clear(key: string): Promise<void> {
    await this.redis.del(this.prefix + storageKey(key));
  }

  /** EVALSHA, loading the script on a server that has not seen it yet (or was restarted). */
  private async run(key: string, args: (string | number)[]): Promise<number[]> {
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(HIT_SHA, 1, key, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      reply = await this.redis.eval(HIT_SCRIPT, 1, key, ...args);
    }
    if (!Array.isArray(reply) || reply.some((v) => typeof v !== "number")) {
      throw new Error("unexpected reply from the rate-limit script");
    }
    return reply as number[];
  }
}
