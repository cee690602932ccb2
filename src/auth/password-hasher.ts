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
import type { HashOptions, PasswordHasher, VerifyResult } from "../domain/ports.js";
import { ClientGoneError, HashQueueFullError } from "../errors.js";
import { type HashGate, HashPool, type HashPoolObserver, type HashPoolStats } from "./hash-pool.js";

const pbkdf2Async = promisify(pbkdf2);

/** @node-rs/argon2's `Algorithm.Argon2id`. */
const ARGON2ID = 2;

const FAIL: VerifyResult = { ok: false, needsRehash: false, legacy: false };
const TOO_COSTLY: VerifyResult = { ok: false, needsRehash: false, legacy: false, tooCostly: true };

/**
 * The most work a stored hash may ask for: beyond this (or beyond the configured parameters, if
 * those are higher) it is refused unchecked, so that one bad row cannot hold a hashing thread
 * for minutes or take gigabytes of memory.
 */
export const HASH_CEILING = { memoryCost: 1024 * 1024, timeCost: 16, parallelism: 64, pbkdf2Iterations: 2_000_000 } as const;

/** The Argon2 parameters of a PHC string (`$argon2id$v=19$m=…,t=…,p=…$…`), any Argon2 variant. */
function parsePhcParams(phc: string): (Argon2Params & { variant: string }) | null {
  const m = /^\$(argon2(?:id|i|d))\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return null;
  return { variant: m[1] as string, memoryCost: Number(m[2]), timeCost: Number(m[3]), parallelism: Number(m[4]) };
}

/** Argon2id hasher with the given parameters, a cap on simultaneous hashes and on waiting ones. */
export class Argon2Hasher implements PasswordHasher {
  private readonly pool: HashPool;
  /** Bounds the legacy PBKDF2 checks, which run on libuv's thread pool. */
  private readonly limit: LimitFunction;
  private dummyHash: Promise<string> | null = null;
  private readonly ceiling: Argon2Params;

  /**
   * @param concurrency how many hashes run at once
   * @param nice the scheduling priority of the hashing threads (0 normal, 19 lowest)
   * @param maxQueued how many hashes may wait beyond the running ones (LATCHKEY_HASH_QUEUE_MAX)
   */
  constructor(
    readonly params: Argon2Params,
    concurrency: number,
    nice = 10,
    private readonly maxQueued = Number.POSITIVE_INFINITY,
  ) {
    this.pool = new HashPool(concurrency, nice, maxQueued);
    this.limit = pLimit(concurrency);
    this.ceiling = {
      memoryCost: Math.max(HASH_CEILING.memoryCost, params.memoryCost),
      timeCost: Math.max(HASH_CEILING.timeCost, params.timeCost),
      parallelism: Math.max(HASH_CEILING.parallelism, params.parallelism),
    };
  }

  /** How many hash operations are running or queued; for metrics and tests. */
  get pending(): number {
    return this.pool.pending + this.limit.activeCount + this.limit.pendingCount;
  }

  /** The Argon2 pool's counters (running, queued, started, refused, dropped, average run time). */
  /** Starts Argon2 jobs only with `gate`'s permission, a bound shared by every process of the machine. */
  shareGate(gate: HashGate): void {
    this.pool.shareGate(gate);
  }

  /** Reports each Argon2 job's wait for a thread and its run time (metrics). */
  observe(observer: HashPoolObserver): void {
    this.pool.observe(observer);
  }

  stats(): HashPoolStats {
    return this.pool.stats();
  }

  assertCapacity(): void {
    if (this.pool.full || this.pbkdf2Full()) throw this.pool.refusal();
  }

  hash(password: string, options: HashOptions = {}): Promise<string> {
    return this.pool.hash(password, this.argon2Options(), options);
  }

  private argon2Options() {
    return {
      algorithm: ARGON2ID,
      memoryCost: this.params.memoryCost,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
      outputLen: 32,
    };
  }

  /** Stops the hashing threads. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /**
   * Checks `password` against a stored hash. Whatever the stored value (a current hash, an
   * imported one, a malformed, unusable or too costly one), the call costs at least one real
   * verification, so that an account with a broken or unusable hash cannot be told from one
   * with a password.
   */
  async verify(stored: string, password: string, options: HashOptions = {}): Promise<VerifyResult> {
    if (stored.startsWith("$argon2")) {
      const params = parsePhcParams(stored);
      if (params !== null && this.exceedsCeiling(params)) {
        await this.verifyDummy(password, options);
        return TOO_COSTLY;
      }
      const ok = await this.verifyArgon2(stored, password, options);
      const current =
        params !== null &&
        params.variant === "argon2id" &&
        params.memoryCost === this.params.memoryCost &&
        params.timeCost === this.params.timeCost &&
        params.parallelism === this.params.parallelism;
      return { ok, needsRehash: ok && !current, legacy: false };
    }
    if (stored.startsWith("argon2$")) {
      // Django stores "argon2" followed by the PHC string argon2-cffi produced.
      const phc = stored.slice("argon2".length);
      const params = parsePhcParams(phc);
      if (params !== null && this.exceedsCeiling(params)) {
        await this.verifyDummy(password, options);
        return TOO_COSTLY;
      }
      const ok = await this.verifyArgon2(phc, password, options);
      return { ok, needsRehash: ok, legacy: true };
    }
    if (stored.startsWith("pbkdf2_sha256$") && isWellFormedPbkdf2(stored)) {
      if (pbkdf2Iterations(stored) > HASH_CEILING.pbkdf2Iterations) {
        await this.verifyDummy(password, options);
        return TOO_COSTLY;
      }
      if (this.pbkdf2Full()) throw this.pool.refusal();
      const ok = await this.limit(() => verifyDjangoPbkdf2(stored, password));
      return { ok, needsRehash: ok, legacy: true };
    }
    // Unusable ("!..." in Django), malformed or unknown formats never match, at the same cost.
    await this.verifyDummy(password, options);
    return FAIL;
  }

  async verifyDummy(password: string, options: HashOptions = {}): Promise<void> {
    // Made once, ahead of any queue; a failed attempt is retried next time.
    this.dummyHash ??= this.pool
      .hash("latchkey-dummy-password", this.argon2Options(), { priority: true })
      .catch((err: unknown) => {
        this.dummyHash = null;
        throw err;
      });
    const dummy = await this.dummyHash;
    // Straight to the pool: a failure here must not loop back through verifyArgon2. Only a full
    // queue or a departed client are reported; anything else is an ordinary mismatch.
    await this.pool.verify(dummy, password, options).catch((err: unknown) => {
      if (err instanceof HashQueueFullError || err instanceof ClientGoneError) throw err;
      return false;
    });
  }

  /** The legacy PBKDF2 checks wait under the same bound as Argon2's. */
  private pbkdf2Full(): boolean {
    return this.limit.pendingCount >= this.maxQueued && this.limit.activeCount >= this.limit.concurrency;
  }

  private exceedsCeiling(params: Argon2Params): boolean {
    return (
      params.memoryCost > this.ceiling.memoryCost ||
      params.timeCost > this.ceiling.timeCost ||
      params.parallelism > this.ceiling.parallelism
    );
  }

  private async verifyArgon2(phc: string, password: string, options: HashOptions): Promise<boolean> {
    let result: boolean | null;
    try {
      result = await this.pool.verify(phc, password, options);
    } catch (err) {
      if (err instanceof HashQueueFullError || err instanceof ClientGoneError) throw err;
      result = null;
    }
    if (result !== null) return result;
    // A malformed stored hash is a failed match, never a 500, and costs a full verification.
    await this.verifyDummy(password, options);
    return false;
  }
}

function pbkdf2Iterations(stored: string): number {
  return Number(stored.split("$")[1]);
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
