/**
 * The Redis limiter keeps the same sliding-window semantics as the memory one, and its
 * check-and-record is atomic: concurrent nodes cannot both take the last slot.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { MemoryRateLimiter } from "../../src/domain/rate-limiter.js";
import { RedisRateLimiter } from "../../src/store/redis-rate-limiter.js";
import { ManualClock } from "../helper.js";
import { runs } from "../property.js";
import { edgeExamples, opsArb, rulesArb } from "../rate-model.js";
import { testRedis } from "../redis-helper.js";

const redis = await testRedis();
if (redis !== null) {
  describe("redis-rate-limiter", () => {
    after(() => redis.close());

    test("Redis decides exactly as the memory limiter does on any sequence of hits, waits and clears", async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(rulesArb, opsArb, async (rules, ops) => {
          run++;
          const clock = new ManualClock();
          const memory = new MemoryRateLimiter(clock);
          const shared = new RedisRateLimiter(redis.redis, clock, `${redis.prefix}${run}:`);
          for (const op of ops) {
            if (op.kind === "advance") clock.ms += op.ms;
            else if (op.kind === "clear") {
              await memory.clear(op.key);
              await shared.clear(op.key);
            } else {
              assert.deepEqual(await shared.hit(op.key, rules), await memory.hit(op.key, rules));
            }
          }
        }),
        { numRuns: runs(200), examples: edgeExamples },
      );
    });

    test("two nodes hitting one key at once share one budget: exactly max attempts get through", async () => {
      const clock = new ManualClock();
      const second = await redis.connect();
      const nodeA = new RedisRateLimiter(redis.redis, clock, redis.prefix);
      const nodeB = new RedisRateLimiter(second, clock, redis.prefix);
      const rules = [{ windowSeconds: 1800, max: 5 }];
      const attempts = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? nodeA : nodeB).hit("race", rules));
      const decisions = await Promise.all(attempts);
      assert.equal(decisions.filter((d) => !d.limited).length, 5);
      assert.equal(await redis.redis.llen(`${redis.prefix}race`), 5);
    });

    test("histories expire from Redis once the longest window has passed", async () => {
      const limiter = new RedisRateLimiter(redis.redis, new ManualClock(), redis.prefix);
      await limiter.hit("expiring", [
        { windowSeconds: 60, max: 3 },
        { windowSeconds: 3600, max: 10 },
      ]);
      const ttl = await redis.redis.pttl(`${redis.prefix}expiring`);
      assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `ttl ${ttl}`);
    });

    test("a username longer than any sane key is stored under a fixed-size key", async () => {
      const limiter = new RedisRateLimiter(redis.redis, new ManualClock(), redis.prefix);
      const rules = [{ windowSeconds: 60, max: 1 }];
      const long = "y".repeat(100_000);
      assert.equal((await limiter.hit(long, rules)).limited, false);
      assert.equal((await limiter.hit(long, rules)).limited, true);
      const keys = await redis.redis.keys(`${redis.prefix}sha256:*`);
      assert.equal(keys.length, 1);
      assert.ok((keys[0] as string).length < 200);
    });
  });
}
