/**
 * What junk credentials cost a server's memory: a Latchkey server in its own process (bench/serve.ts)
 * receives requests whose Basic username is a distinct 8 KB string each time, with a well-formed key,
 * and its resident memory (VmRSS) is read before and after. Used by `npm run bench` (row "junk") and
 * by test/http/junk-credentials.test.ts, so the test and the benchmark measure the same thing.
 *
 *   node --import tsx bench/junk-memory.ts [requests]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { createInterface } from "node:readline";

export interface JunkGrowth {
  requests: number;
  usernameBytes: number;
  /** VmRSS after a warm-up of the same requests, KiB. */
  beforeKiB: number;
  afterKiB: number;
  /** How the server answered (status → count). */
  statuses: Record<number, number>;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function startServer(): Promise<{ child: ChildProcess; port: number; apiKey: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/serve.ts", "latchkey"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, LATCHKEY_LOG_LEVEL: "silent" },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    lines.close();
    const info = JSON.parse(line) as { port: number; apiKey: string };
    return { child, port: info.port, apiKey: info.apiKey };
  }
  throw new Error("the benchmark server exited before listening");
}

/** Sends `count` requests, each with a new `usernameBytes`-long username, `concurrency` at a time. */
async function sendJunk(
  port: number,
  apiKey: string,
  count: number,
  usernameBytes: number,
  offset: number,
  statuses: Record<number, number>,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const filler = "j".repeat(usernameBytes - 12);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = offset + next++;
      const username = `${String(i).padStart(12, "0")}${filler}`;
      const authorization = `Basic ${Buffer.from(`${username}:${apiKey}`).toString("base64")}`;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/api/v1/users/me", agent, headers: { authorization } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end();
      });
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();
}

/** Starts a server, warms it with `warmup` junk requests, then measures `requests` more. */
export async function measureJunkGrowth(requests = 10_000, usernameBytes = 8 * 1024, warmup = 2_000): Promise<JunkGrowth> {
  const { child, port, apiKey } = await startServer();
  try {
    const statuses: Record<number, number> = {};
    await sendJunk(port, apiKey, warmup, usernameBytes, 0, {});
    const beforeKiB = await rssKiB(child.pid as number);
    await sendJunk(port, apiKey, requests, usernameBytes, warmup, statuses);
    const afterKiB = await rssKiB(child.pid as number);
    return { requests, usernameBytes, beforeKiB, afterKiB, statuses };
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await measureJunkGrowth(Number(process.argv[2] ?? 10_000));
  const growth = (result.afterKiB - result.beforeKiB) / 1024;
  console.log(
    `${result.requests} requests with distinct ${result.usernameBytes / 1024} KB usernames: server RSS ${(result.beforeKiB / 1024).toFixed(1)} → ${(result.afterKiB / 1024).toFixed(1)} MiB (growth ${growth.toFixed(1)} MiB; statuses ${JSON.stringify(result.statuses)})`,
  );
}
