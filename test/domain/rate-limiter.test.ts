/**
 * The in-memory limiter keeps Zulip's sliding-window semantics (checked against a plain
 * reference written straight from docs/zulip-rules.md §4.5) and stays bounded whatever keys it is fed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemoryRateLimiter } from "../../src/domain/rate-limiter.js";
import { ManualClock } from "../helper.js";
import { runs } from "../property.js";
import { edgeExamples, opsArb, ReferenceLimiter, rulesArb } from "../rate-model.js";

test("the memory limiter decides exactly as the reference does on any sequence of hits, waits and clears", async () => {
  await fc.assert(
    fc.asyncProperty(rulesArb, opsArb, async (rules, ops) => {
      const clock = new ManualClock();
      const limiter = new MemoryRateLimiter(clock);
      const reference = new ReferenceLimiter(clock);
      for (const op of ops) {
        if (op.kind === "advance") clock.ms += op.ms;
        else if (op.kind === "clear") {
          await limiter.clear(op.key);
          reference.clear(op.key);
        } else {
          assert.deepEqual(await limiter.hit(op.key, rules), reference.hit(op.key, rules));
        }
      }
    }),
    { numRuns: runs(200), examples: edgeExamples },
  );
});

test("a refused attempt is not recorded, so waiting out the window always frees the key", async () => {
  const clock = new ManualClock();
  const limiter = new MemoryRateLimiter(clock);
  const rules = [{ windowSeconds: 60, max: 2 }];
  assert.equal((await limiter.hit("k", rules)).limited, false);
  clock.advance(10);
  assert.equal((await limiter.hit("k", rules)).limited, false);
  for (let i = 0; i < 20; i++) assert.equal((await limiter.hit("k", rules)).limited, true);
  const refused = await limiter.hit("k", rules);
  assert.equal(refused.secondsToFreedom, 50);
  clock.advance(50);
  assert.equal((await limiter.hit("k", rules)).limited, false);
});

test("memory stays bounded: at most maxKeys keys, and at most maxTimestamps reserved", async () => {
  const clock = new ManualClock();
  const byKeys = new MemoryRateLimiter(clock, { maxKeys: 10 });
  const rules = [{ windowSeconds: 3600, max: 9 }];
  for (let i = 0; i < 1000; i++) await byKeys.hit(`user-${i}`, rules);
  assert.equal(byKeys.size, 10);

  // Each key is charged the most it can hold (max + 1 = 10), so 100 timestamps hold 10 keys.
  const bySize = new MemoryRateLimiter(clock, { maxKeys: 1000, maxTimestamps: 100 });
  for (let i = 0; i < 1000; i++) await bySize.hit(`user-${i}`, rules);
  assert.equal(bySize.size, 10);
  // The most recent keys are the ones kept: their histories still count.
  for (let i = 0; i < 8; i++) await bySize.hit("user-999", rules);
  assert.equal((await bySize.hit("user-999", rules)).limited, true);
});

test("huge keys (an LDAP username as long as the body limit) cost a fixed size and keep distinct budgets", async () => {
  const clock = new ManualClock();
  const limiter = new MemoryRateLimiter(clock, { maxKeys: 100, maxTimestamps: 1000 });
  const rules = [{ windowSeconds: 60, max: 1 }];
  const long = "x".repeat(1024 * 1024);
  assert.equal((await limiter.hit(`${long}a`, rules)).limited, false);
  assert.equal((await limiter.hit(`${long}a`, rules)).limited, true);
  assert.equal((await limiter.hit(`${long}b`, rules)).limited, false);
  await limiter.clear(`${long}a`);
  assert.equal((await limiter.hit(`${long}a`, rules)).limited, false);
});
