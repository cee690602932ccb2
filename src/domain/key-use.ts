/**
 * Last use of each API key: when, from which address, by which client. Written at most once a
 * minute per key, in the background: a request pays a map lookup and a time comparison, and
 * never waits for the write.
 */
import type { Clock } from "./model.js";
import type { KeyUse, KeyUseStore } from "./ports.js";

/** How often a key's use is written, at most. */
export const KEY_USE_INTERVAL_MS = 60_000;
const MAX_TRACKED_KEYS = 100_000;

type Log = { warn(obj: object, msg?: string): void };

export class KeyUseTracker {
  /** Key digest → when its use was last written. */
  private readonly written = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  /** Writes started since the tracker was made (benchmarks and metrics). */
  writes = 0;

  constructor(
    private readonly store: KeyUseStore,
    private readonly clock: Clock,
    private readonly log: Log,
    private readonly intervalMs = KEY_USE_INTERVAL_MS,
  ) {}

  /**
   * Notes a use of the key with `digest`. The address and client are computed only when the
   * use is written, so the common case costs nothing more than the throttle check.
   */
  note<S>(digest: string, userId: number, source: S, describe: (source: S) => { ip: string; client: string }): void {
    const now = this.clock.now();
    const last = this.written.get(digest);
    if (last !== undefined && now - last < this.intervalMs) return;
    if (last === undefined && this.written.size >= MAX_TRACKED_KEYS) this.sweep(now);
    this.written.set(digest, now);
    this.writes++;
    const use: KeyUse = { usedAt: now, ...describe(source) };
    const write = this.store
      .record(userId, digest, use)
      .catch((err: unknown) => {
        // A lost write only makes the record older; the request it describes has succeeded.
        this.log.warn({ err: { message: (err as Error).message } }, "could not record an API key's use");
      })
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Waits for the writes in flight (for reads that must see them, and for tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Forgets keys whose interval has passed; if none has, forgets all (which only costs writes). */
  private sweep(now: number): void {
    for (const [digest, at] of this.written) if (now - at >= this.intervalMs) this.written.delete(digest);
    if (this.written.size >= MAX_TRACKED_KEYS) this.written.clear();
  }
}
