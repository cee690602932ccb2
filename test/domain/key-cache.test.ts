/**
 * The key cache's own promises, on a clock the test moves: an entry is never trusted past its
 * lifetime, and while the invalidation channel is down nothing is served from the cache.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyCache, makePrincipal } from "../../src/domain/key-cache.js";
import type { Realm, User } from "../../src/domain/model.js";

const realm = { id: 1, subdomain: "" } as Realm;
const user = (id: number) => ({ id, realmId: 1, deliveryEmail: `u${id}@example.com` }) as User;

function cacheAt(clock: { ms: number }, ttlMs = 30_000): KeyCache {
  return new KeyCache({ maxEntries: 100, ttlMs, now: () => clock.ms });
}

test("an entry is served for its lifetime, then never", () => {
  const clock = { ms: 1000 };
  const cache = cacheAt(clock);
  cache.set("d1", makePrincipal(user(1), realm));
  clock.ms += 30_000;
  assert.equal(cache.get("d1")?.user.id, 1);
  clock.ms += 1;
  assert.equal(cache.get("d1"), undefined);
  assert.deepEqual(cache.stats, { hits: 1, misses: 1, flushes: 0 });
});

test("reading an entry does not extend its lifetime", () => {
  const clock = { ms: 5000 };
  const cache = cacheAt(clock, 10_000);
  cache.set("d1", makePrincipal(user(1), realm));
  for (let i = 0; i < 9; i++) {
    clock.ms += 1000;
    assert.ok(cache.get("d1"));
  }
  clock.ms += 1001;
  assert.equal(cache.get("d1"), undefined);
});

test("while the channel is down nothing is cached or served; its return flushes", () => {
  const clock = { ms: 0 };
  const cache = cacheAt(clock);
  cache.set("d1", makePrincipal(user(1), realm));
  cache.channelLost();
  assert.equal(cache.trusted, false);
  assert.equal(cache.get("d1"), undefined);
  cache.set("d2", makePrincipal(user(2), realm), cache.epoch);
  assert.equal(cache.size, 0);
  cache.channelRestored();
  assert.equal(cache.trusted, true);
  assert.equal(cache.get("d1"), undefined);
  cache.set("d2", makePrincipal(user(2), realm), cache.epoch);
  assert.equal(cache.get("d2")?.user.id, 2);
  assert.equal(cache.stats.flushes, 2);
});

test("a lookup that started before the channel came back does not cache its answer", () => {
  const cache = cacheAt({ ms: 0 });
  const epoch = cache.epoch;
  cache.channelLost();
  cache.channelRestored();
  cache.set("d1", makePrincipal(user(1), realm), epoch);
  assert.equal(cache.size, 0);
});
