/**
 * A fixed pool of worker threads that run Argon2id. Each worker lowers its own scheduling
 * priority (Linux `nice`), and the lane threads Argon2 spawns inherit it, so that a storm of
 * logins uses the CPU the event loop leaves over instead of starving requests that only check
 * an API key. The pool's size bounds how many hashes run at once; the rest wait in order.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export interface Argon2Options {
  algorithm: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  outputLen: number;
}

type Job = { op: "hash"; password: string; options: Argon2Options } | { op: "verify"; phc: string; password: string };

interface Pending {
  job: Job;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
}

// The worker is CommonJS evaluated from a string, so it needs no build step of its own.
function workerSource(argon2Path: string, nice: number): string {
  return `
const { parentPort } = require("node:worker_threads");
const argon2 = require(${JSON.stringify(argon2Path)});
try {
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  require("node:os").setPriority(tid, ${nice});
} catch {
  // Not Linux, or not allowed: run at normal priority.
}
parentPort.on("message", (job) => {
  try {
    const result = job.op === "hash" ? argon2.hashSync(job.password, job.options) : argon2.verifySync(job.phc, job.password);
    parentPort.postMessage({ result });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
  }
});
`;
}

class PoolWorker {
  private worker: Worker;
  current: Pending | null = null;

  constructor(
    private readonly source: string,
    private readonly onIdle: (worker: PoolWorker) => void,
  ) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const worker = new Worker(this.source, { eval: true });
    worker.on("message", (msg: { result?: string | boolean; error?: string }) => {
      const job = this.current;
      this.current = null;
      worker.unref();
      if (job !== null) {
        if (msg.error !== undefined) job.reject(new Error(msg.error));
        else job.resolve(msg.result as string | boolean);
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
  private readonly source: string;

  constructor(
    private readonly size: number,
    nice: number,
  ) {
    const argon2Path = createRequire(import.meta.url).resolve("@node-rs/argon2");
    this.source = workerSource(argon2Path, nice);
  }

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

  private submit(job: Job): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    // Workers start on first use, so a process that never hashes never spawns them.
    while (this.queue.length > 0 && this.idle.length === 0 && this.workers.length < this.size) {
      const worker = new PoolWorker(this.source, (w) => {
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
