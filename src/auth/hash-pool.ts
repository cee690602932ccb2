/**
 * A fixed pool of worker threads that run Argon2id. Each worker lowers its own scheduling
 * priority (Linux `nice`), and the lane threads Argon2 spawns inherit it, so that a storm of
 * logins uses the CPU the event loop leaves over instead of starving requests that only check
 * an API key. The pool's size bounds how many hashes run at once; the rest wait in order.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Argon2Options, HashAnswer, HashJob, HashWorkerData } from "./hash-worker.js";

interface Pending {
  job: HashJob;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
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

  constructor(
    private readonly size: number,
    private readonly nice: number,
  ) {}

  /** Jobs running or waiting. */
  get pending(): number {
    return this.queue.length + this.workers.filter((w) => w.current !== null).length;
  }

  hash(password: string, options: Argon2Options): Promise<string> {
    return this.submit({ op: "hash", password, options }) as Promise<string>;
  }

  verify(phc: string, password: string): Promise<boolean> {
    return this.submit({ op: "verify", phc, password }) as Promise<boolean>;
  }

  private submit(job: HashJob): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    // Workers start on first use, so a process that never hashes never spawns them.
    while (this.queue.length > 0 && this.idle.length === 0 && this.workers.length < this.size) {
      const worker = new PoolWorker(this.nice, (w) => {
        this.idle.push(w);
        this.dispatch();
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
    while (this.queue.length > 0 && this.idle.length > 0) {
      const worker = this.idle.pop() as PoolWorker;
      worker.run(this.queue.shift() as Pending);
    }
  }

  /** Stops the workers; jobs still waiting are refused. */
  async close(): Promise<void> {
    for (const pending of this.queue.splice(0)) pending.reject(new Error("hash pool closed"));
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
