/**
 * Last use of each API key: when, from which address, by which client. Written at most once a
 * minute per key, in the background: a request pays a map lookup and a time comparison, and
 * never waits for the write. Uses noted within BATCH_DELAY_MS of each other are written
 * together, in one statement (at most BATCH_MAX at a time), so that a busy server pays one
 * write for many keys.
 */
import type { Clock } from "./model.js";
import type { KeyUse, KeyUseRecord, KeyUseStore } from "./ports.js";

/** How often a key's use is written, at most. */
export const KEY_USE_INTERVAL_MS = 60_000;
const MAX_TRACKED_KEYS = 100_000;
/** How long a noted use waits for others to be written with it, in ms. */
export const BATCH_DELAY_MS = 100;
/** The most uses written in one statement. */
export const BATCH_MAX = 500;

type Log = { warn(obj: object, msg?: string): void };

export class KeyUseTracker {
  /** Key digest → when its use was last written. */
  private readonly written = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  /** Uses noted and not yet written, one per key digest. */
  private queued = new Map<string, KeyUseRecord>();
  private timer: NodeJS.Timeout | null = null;
  /** Uses written (or being written) since the tracker was made (benchmarks and metrics). */
  writes = 0;
  /** Statements those uses took. */
  statements = 0;

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
    const use: KeyUse = { usedAt: now, ...describe(source) };
    this.queued.set(digest, { userId, keyDigest: digest, use });
    if (this.queued.size >= BATCH_MAX) this.writeQueued();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.writeQueued(), BATCH_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Writes what is queued and waits for every write in flight (for reads that must see them, shutdown and tests). */
  async flush(): Promise<void> {
    this.writeQueued();
    await Promise.all([...this.pending]);
  }

  private writeQueued(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.queued.size === 0) return;
    const uses = [...this.queued.values()];
    this.queued = new Map();
    this.writes += uses.length;
    this.statements++;
    const write = this.store
      .recordMany(uses)
      .catch((err: unknown) => {
        // A lost write only makes the records older; the requests they describe have succeeded.
        this.log.warn({ err: { message: (err as Error).message } }, "could not record an API key's use");
      })
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Forgets keys whose interval has passed; if none has, forgets all (which only costs writes). */
  private sweep(now: number): void {
    for (const [digest, at] of this.written) if (now - at >= this.intervalMs) this.written.delete(digest);
    if (this.written.size >= MAX_TRACKED_KEYS) this.written.clear();
  }
}
