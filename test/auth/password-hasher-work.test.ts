/**
 * The Argon2id hasher costs one verification whatever the stored value is: a current hash, an
 * imported Django one, or something unusable or malformed (which burn one dummy verification).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Argon2Hasher, makeDjangoPbkdf2 } from "../../src/auth/password-hasher.js";
import { constantTimeEqual } from "../../src/domain/constant-time.js";
import { FAST_ARGON2 } from "../helper.js";

/** Counts the dummy verifications the hasher runs on its own. */
class ProbedHasher extends Argon2Hasher {
  dummies = 0;
  override verifyDummy(password: string): Promise<void> {
    this.dummies++;
    return super.verifyDummy(password);
  }
}

test("stored values that cannot match still cost one (dummy) verification; real hashes cost their own", async () => {
  const hasher = new ProbedHasher(FAST_ARGON2, 2);
  const current = await hasher.hash("right");
  const pbkdf2 = await makeDjangoPbkdf2("right", "salt", 1000);
  const cases: [string, string, number][] = [
    ["current Argon2id, wrong password", current, 0],
    ["Django argon2 prefix", `argon2${current}`, 0],
    ["Django pbkdf2_sha256", pbkdf2, 0],
    ["Django's unusable marker", "!Zg3Xq1vP0aS9kT2mW8yR4cB6nL5jH7d", 1],
    ["an unknown algorithm", "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99", 1],
    ["a malformed Argon2 string", "$argon2id$v=19$m=oops", 1],
    ["a malformed Django argon2 string", "argon2$argon2id$broken", 1],
    ["a malformed pbkdf2 string", "pbkdf2_sha256$lots$salt$", 1],
    ["pbkdf2 with an absurd iteration count", "pbkdf2_sha256$999999999$salt$AAAA", 1],
    ["empty", "", 1],
  ];
  for (const [label, stored, dummies] of cases) {
    hasher.dummies = 0;
    const result = await hasher.verify(stored, "wrong");
    assert.equal(result.ok, false, label);
    assert.equal(hasher.dummies, dummies, label);
  }
  assert.equal((await hasher.verify(current, "right")).ok, true);
  assert.equal((await hasher.verify(pbkdf2, "right")).ok, true);
});

test("constantTimeEqual compares bytes exactly, padding both sides without letting padding match", () => {
  const key = "a".repeat(32);
  assert.equal(constantTimeEqual(key, "a".repeat(32)), true);
  assert.equal(constantTimeEqual(key, `${"a".repeat(31)}b`), false);
  assert.equal(constantTimeEqual(key, "a".repeat(31)), false);
  assert.equal(constantTimeEqual(key, "a".repeat(33)), false);
  // Zero padding must not make a shorter value equal one that ends in NUL bytes.
  assert.equal(constantTimeEqual("abc", "abc\u0000"), false);
  assert.equal(constantTimeEqual("", ""), true);
  assert.equal(constantTimeEqual("", "\u0000"), false);
  // Longer than the padded minimum, non-ASCII, and buffers.
  const long = "ü".repeat(100);
  assert.equal(constantTimeEqual(long, "ü".repeat(100)), true);
  assert.equal(constantTimeEqual(long, `${"ü".repeat(99)}u`), false);
  assert.equal(constantTimeEqual(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3])), true);
  assert.equal(constantTimeEqual(Buffer.from([1, 2, 3]), "\u0001\u0002\u0004"), false);
});
