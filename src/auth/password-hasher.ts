/**
 * Password hashing: Argon2id in PHC form for new hashes; Django's `argon2$argon2id$...` and
 * `pbkdf2_sha256$...` accepted for users imported from a Zulip server, and upgraded on the
 * next successful login. Argon2id runs in a pool of low-priority worker threads of bounded
 * size (src/auth/hash-pool.ts), so a storm of logins queues there instead of starving requests
 * that only check an API key.
 */
import { pbkdf2 } from "node:crypto";
import { promisify } from "node:util";
import pLimit, { type LimitFunction } from "p-limit";
import type { Argon2Params } from "../config.js";
import { constantTimeEqual } from "../domain/constant-time.js";
import type { PasswordHasher, VerifyResult } from "../domain/ports.js";
import { HashPool } from "./hash-pool.js";

const pbkdf2Async = promisify(pbkdf2);

/** @node-rs/argon2's `Algorithm.Argon2id`. */
const ARGON2ID = 2;

const FAIL: VerifyResult = { ok: false, needsRehash: false, legacy: false };

function parsePhcParams(phc: string): Argon2Params | null {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return null;
  return { memoryCost: Number(m[1]), timeCost: Number(m[2]), parallelism: Number(m[3]) };
}

/** Argon2id hasher with the given parameters and a cap on simultaneous hashes. */
export class Argon2Hasher implements PasswordHasher {
  private readonly pool: HashPool;
  /** Bounds the legacy PBKDF2 checks, which run on libuv's thread pool. */
  private readonly limit: LimitFunction;
  private dummyHash: Promise<string> | null = null;

  /**
   * @param concurrency how many hashes run at once
   * @param nice the scheduling priority of the hashing threads (0 normal, 19 lowest)
   */
  constructor(
    readonly params: Argon2Params,
    concurrency: number,
    nice = 10,
  ) {
    this.pool = new HashPool(concurrency, nice);
    this.limit = pLimit(concurrency);
  }

  /** How many hash operations are running or queued; for metrics and tests. */
  get pending(): number {
    return this.pool.pending + this.limit.activeCount + this.limit.pendingCount;
  }

  hash(password: string): Promise<string> {
    return this.pool.hash(password, {
      algorithm: ARGON2ID,
      memoryCost: this.params.memoryCost,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
      outputLen: 32,
    });
  }

  /** Stops the hashing threads. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /**
   * Checks `password` against a stored hash. Whatever the stored value (a current hash, an
   * imported one, a malformed or unusable one), the call costs at least one real verification,
   * so that an account with a broken or unusable hash cannot be told from one with a password.
   */
  async verify(stored: string, password: string): Promise<VerifyResult> {
    if (stored.startsWith("$argon2")) {
      const ok = await this.verifyArgon2(stored, password);
      const params = parsePhcParams(stored);
      const current =
        params !== null &&
        params.memoryCost === this.params.memoryCost &&
        params.timeCost === this.params.timeCost &&
        params.parallelism === this.params.parallelism;
      return { ok, needsRehash: ok && !current, legacy: false };
    }
    if (stored.startsWith("argon2$")) {
      // Django stores "argon2" followed by the PHC string argon2-cffi produced.
      const ok = await this.verifyArgon2(stored.slice("argon2".length), password);
      return { ok, needsRehash: ok, legacy: true };
    }
    if (stored.startsWith("pbkdf2_sha256$") && isWellFormedPbkdf2(stored)) {
      const ok = await this.limit(() => verifyDjangoPbkdf2(stored, password));
      return { ok, needsRehash: ok, legacy: true };
    }
    // Unusable ("!..." in Django), malformed or unknown formats never match, at the same cost.
    await this.verifyDummy(password);
    return FAIL;
  }

  async verifyDummy(password: string): Promise<void> {
    this.dummyHash ??= this.hash("latchkey-dummy-password");
    // Straight to the pool: a failure here must not loop back through verifyArgon2.
    await this.pool.verify(await this.dummyHash, password).catch(() => false);
  }

  private async verifyArgon2(phc: string, password: string): Promise<boolean> {
    let result: boolean | null;
    try {
      result = await this.pool.verify(phc, password);
    } catch {
      result = null;
    }
    if (result !== null) return result;
    // A malformed stored hash is a failed match, never a 500, and costs a full verification.
    await this.verifyDummy(password);
    return false;
  }
}

/** Whether a `pbkdf2_sha256$...` value has a shape `verifyDjangoPbkdf2` can check. */
function isWellFormedPbkdf2(stored: string): boolean {
  const parts = stored.split("$");
  if (parts.length !== 4 || !/^\d+$/.test(parts[1] as string)) return false;
  const iterations = Number(parts[1]);
  return iterations >= 1 && iterations <= 10_000_000 && Buffer.from(parts[3] as string, "base64").length > 0;
}

/** Verifies Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`. */
export async function verifyDjangoPbkdf2(stored: string, password: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 4) return false;
  const [, iterText, salt, expectedB64] = parts as [string, string, string, string];
  if (!/^\d+$/.test(iterText)) return false;
  const iterations = Number(iterText);
  if (iterations < 1 || iterations > 10_000_000) return false;
  const expected = Buffer.from(expectedB64, "base64");
  if (expected.length === 0) return false;
  const actual = await pbkdf2Async(password, salt, iterations, expected.length, "sha256");
  return constantTimeEqual(actual, expected);
}

/** Builds a Django `pbkdf2_sha256` hash; used by tests and import tooling. */
export async function makeDjangoPbkdf2(password: string, salt: string, iterations: number): Promise<string> {
  const derived = await pbkdf2Async(password, salt, iterations, 32, "sha256");
  return `pbkdf2_sha256$${iterations}$${salt}$${derived.toString("base64")}`;
}
