/**
 * One thread of the password-hash pool (src/auth/hash-pool.ts). It lowers its own scheduling
 * priority first (Linux `nice`; the lane threads Argon2 spawns inherit it), then answers one
 * message at a time: hash a password, or verify one against a PHC string.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { hashSync, verifySync } from "@node-rs/argon2";

export interface Argon2Options {
  algorithm: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  outputLen: number;
}

export type HashJob = { op: "hash"; password: string; options: Argon2Options } | { op: "verify"; phc: string; password: string };

export type HashAnswer = { result: string | boolean } | { error: string };

export interface HashWorkerData {
  /** Scheduling priority: 0 normal, 19 lowest. */
  nice: number;
}

/** Lowers this thread's priority; where that is not possible (not Linux, not allowed) it runs at normal priority. */
function lowerPriority(nice: number): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    setPriority(tid, nice);
  } catch {
    // Not Linux, or not allowed.
  }
}

function run(job: HashJob): HashAnswer {
  try {
    // The enum value is @node-rs/argon2's Algorithm.Argon2id; it is a const enum, so the number travels.
    const result =
      job.op === "hash"
        ? hashSync(job.password, job.options as Parameters<typeof hashSync>[1])
        : verifySync(job.phc, job.password);
    return { result };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

if (parentPort !== null) {
  const port = parentPort;
  lowerPriority((workerData as HashWorkerData).nice);
  port.on("message", (job: HashJob) => port.postMessage(run(job)));
}
