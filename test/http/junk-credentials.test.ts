/**
 * Memory that junk cannot grow: a server in its own process answers 10,000 requests whose Basic
 * username is a distinct 8 KB string each (with a well-formed key), and its resident memory grows
 * by less than 20 MiB. Only credentials that authenticated are remembered (src/http/authenticate.ts).
 * The same measurement is the "junk" row of `npm run bench` (bench/junk-memory.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { measureJunkGrowth } from "../../bench/junk-memory.js";

test("10,000 requests with distinct 8 KB junk usernames grow server RSS by less than 20 MiB", { timeout: 600_000 }, async () => {
  const result = await measureJunkGrowth(10_000, 8 * 1024);
  assert.deepEqual(result.statuses, { 401: 10_000 });
  const growthMiB = (result.afterKiB - result.beforeKiB) / 1024;
  console.log(`# server RSS ${(result.beforeKiB / 1024).toFixed(1)} → ${(result.afterKiB / 1024).toFixed(1)} MiB`);
  assert.ok(growthMiB < 20, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
});
