/**
 * A fixed pool of worker threads that run Argon2id. Each worker lowers its own scheduling
 * priority (Linux `nice`), and the lane threads Argon2 spawns inherit it, so that a storm of
 * logins uses the CPU the event loop leaves over instead of starving requests that only check
 * an API key. The pool's size bounds how many hashes run at once; the rest wait in order, and
 * the wait is bounded too: beyond `maxQueued` waiting jobs a new one is refused at once
 * (HashQueueFullError, a 503 with Retry-After), and a job whose client went away while it waited
 * is dropped before it starts.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ClientGoneError, HashQueueFullError } from "../errors.js";
import type { Argon2Options, HashAnswer, HashJob, HashWorkerData } from "./hash-worker.js";

interface Pending {
  job: HashJob;
  /** When the job was submitted (performance.now()), for the wait it had. */
  queuedAt: number;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
  /** Set while the job waits, to drop it when its client goes away. */
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Told how long each job waited for a thread and how long it ran there, in seconds (metrics). */
export interface HashPoolObserver {
  waited(seconds: number): void;
  ran(seconds: number): void;
}

/**
 * Permission to start a hash, shared by every process of a machine (`serve --workers`), so that
 * N processes do not run N times the hashes the machine was sized for.
 */
export interface HashGate {
  /** Calls `granted` once one more hash may start (perhaps at once). */
  acquire(granted: () => void): void;
  /** A hash that was granted has finished (or was not started after all). */
  release(): void;
}

export interface HashJobOptions {
  /** The job is dropped if this aborts before it starts (the client went away). */
  signal?: AbortSignal;
  /** Jobs the server itself needs (the dummy hash) wait even beyond the bound. */
  priority?: boolean;
}

/** What the pool has done since it started, for metrics and tests. */
export interface HashPoolStats {
  running: number;
  queued: number;
  /** Jobs handed to a worker. */
  started: number;
  /** Jobs refused because the queue was full. */
  refused: number;
  /** Jobs dropped before they started because their client went away. */
  dropped: number;
  /** Recent average run time of a job, milliseconds (0 before the first). */
  averageRunMs: number;
}

/**
 * How to start a worker: the compiled hash-worker.js beside this module, or, run from the
 * TypeScript sources, hash-worker.ts through a small CommonJS loader (hash-worker-loader.cjs).
 */
function workerEntry(nice: number): { file: URL; workerData: HashWorkerData & Record<string, unknown> } {
  if (import.meta.url.endsWith(".js")) return { file: new URL("./hash-worker.js", import.meta.url), workerData: { nice } };
  return {
    file: new URL("./hash-worker-loader.cjs", import.meta.url),
    workerData: {
      nice,
      tsxRequireHook: createRequire(import.meta.url).resolve("tsx/cjs/api"),
      entry: fileURLToPath(new URL("./hash-worker.ts", import.meta.url)),
    },
  };
}

class PoolWorker {
  private worker: Worker;
  current: Pending | null = null;
  startedAt = 0;

  constructor(
    private readonly nice: number,
    private readonly onIdle: (worker: PoolWorker) => void,
  ) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const { file, workerData } = workerEntry(this.nice);
    const worker = new Worker(file, { workerData });
    worker.on("message", (answer: HashAnswer) => {
      const job = this.current;
      this.current = null;
      worker.unref();
      if (job !== null) {
        if ("error" in answer) job.reject(new Error(answer.error));
        else job.resolve(answer.result);
      }
      this.onIdle(this);
    });
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => {
      if (this.closed) return;
      this.fail(new Error(`hash worker exited with code ${code}`));
    });
    // An idle worker must not keep the process alive; a busy one must (see run()). Unref only
    // after the listeners are attached: adding a "message" listener refs the port again.
    worker.unref();
    return worker;
  }

  private closed = false;

  private fail(err: Error): void {
    const job = this.current;
    this.current = null;
    job?.reject(err);
    if (!this.closed) {
      this.worker.removeAllListeners();
      void this.worker.terminate();
      this.worker = this.spawn();
      this.onIdle(this);
    }
  }

  run(pending: Pending): void {
    this.current = pending;
    this.startedAt = performance.now();
    this.worker.ref();
    this.worker.postMessage(pending.job);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }
}

export class HashPool {
  private readonly workers: PoolWorker[] = [];
  private readonly idle: PoolWorker[] = [];
  private readonly queue: Pending[] = [];
  private started = 0;
  private refused = 0;
  private dropped = 0;
  private averageRunMs = 0;
  private observer: HashPoolObserver | null = null;
  private gate: HashGate | null = null;
  /** Permits granted by the gate and not yet used. */
  private permits = 0;
  private asking = false;

  /**
   * @param size how many jobs run at once
   * @param nice the workers' scheduling priority
   * @param maxQueued how many jobs may wait beyond the running ones
   */
  constructor(
    private readonly size: number,
    private readonly nice: number,
    private readonly maxQueued = Number.POSITIVE_INFINITY,
  ) {}

  /** Starts a job only with the gate's permission (a bound shared with other processes). */
  shareGate(gate: HashGate): void {
    this.gate = gate;
  }

  /** Reports every job's wait and run time to `observer`. */
  observe(observer: HashPoolObserver): void {
    this.observer = observer;
  }

  /** Jobs running or waiting. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  private get running(): number {
    return this.workers.filter((w) => w.current !== null).length;
  }

  /** True when a new job would be refused: every thread busy and `maxQueued` jobs waiting. */
  get full(): boolean {
    // Behind a shared gate, idle threads may be waiting for other processes' hashes to end.
    return this.queue.length >= this.maxQueued && (this.running >= this.size || this.gate !== null);
  }

  /** Counts a job turned away before it was submitted, and the error that says so. */
  refusal(): HashQueueFullError {
    this.refused++;
    return new HashQueueFullError(this.retryAfterSeconds());
  }

  stats(): HashPoolStats {
    return {
      running: this.running,
      queued: this.queue.length,
      started: this.started,
      refused: this.refused,
      dropped: this.dropped,
      averageRunMs: this.averageRunMs,
    };
  }

  /**
   * Seconds until a job submitted now would likely start: the work ahead of it spread over the
   * workers, at the recent average run time; at least one.
   */
  retryAfterSeconds(): number {
    const perJobMs = this.averageRunMs > 0 ? this.averageRunMs : 1000;
    return Math.max(1, Math.ceil((this.pending * perJobMs) / this.size / 1000));
  }

  hash(password: string, options: Argon2Options, jobOptions: HashJobOptions = {}): Promise<string> {
    return this.submit({ op: "hash", password, options }, jobOptions) as Promise<string>;
  }

  verify(phc: string, password: string, jobOptions: HashJobOptions = {}): Promise<boolean> {
    return this.submit({ op: "verify", phc, password }, jobOptions) as Promise<boolean>;
  }

  private submit(job: HashJob, { signal, priority = false }: HashJobOptions): Promise<string | boolean> {
    if (signal?.aborted) {
      this.dropped++;
      return Promise.reject(new ClientGoneError());
    }
    if (!priority && this.full) return Promise.reject(this.refusal());
    return new Promise((resolve, reject) => {
      const pending: Pending = { job, resolve, reject, queuedAt: performance.now() };
      if (signal !== undefined) {
        pending.signal = signal;
        pending.onAbort = () => {
          const at = this.queue.indexOf(pending);
          if (at === -1) return;
          this.queue.splice(at, 1);
          this.dropped++;
          this.returnUnusedPermits();
          reject(new ClientGoneError());
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      if (priority) this.queue.unshift(pending);
      else this.queue.push(pending);
      this.dispatch();
    });
  }

  private dispatch(): void {
    // Workers start on first use, so a process that never hashes never spawns them.
    while (this.queue.length > 0 && this.idle.length === 0 && this.workers.length < this.size) {
      const worker = new PoolWorker(this.nice, (w) => {
        this.gate?.release();
        const ranMs = performance.now() - w.startedAt;
        this.noteRun(ranMs);
        this.observer?.ran(ranMs / 1000);
        this.idle.push(w);
        this.dispatch();
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
    while (this.queue.length > 0 && this.idle.length > 0) {
      if (this.gate !== null) {
        if (this.permits === 0) {
          this.askGate(this.gate);
          return;
        }
        this.permits--;
      }
      const pending = this.queue.shift() as Pending;
      if (pending.signal !== undefined && pending.onAbort !== undefined) {
        pending.signal.removeEventListener("abort", pending.onAbort);
      }
      this.started++;
      this.observer?.waited((performance.now() - pending.queuedAt) / 1000);
      (this.idle.pop() as PoolWorker).run(pending);
    }
  }

  private returnUnusedPermits(): void {
    if (this.queue.length > 0) return;
    for (; this.permits > 0; this.permits--) this.gate?.release();
  }

  /** Asks the gate for one permit (one request at a time); a permit with no job left goes back. */
  private askGate(gate: HashGate): void {
    if (this.asking) return;
    this.asking = true;
    gate.acquire(() => {
      this.asking = false;
      this.permits++;
      this.dispatch();
      this.returnUnusedPermits();
    });
  }

  /** An exponentially weighted average of run times, for Retry-After. */
  private noteRun(ms: number): void {
    if (this.started <= 1 || this.averageRunMs === 0) this.averageRunMs = ms;
    else this.averageRunMs = this.averageRunMs * 0.8 + ms * 0.2;
  }

  /** Stops the workers; jobs still waiting are refused. */
  async close(): Promise<void> {
    for (const pending of this.queue.splice(0)) pending.reject(new Error("hash pool closed"));
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
