/**
 * `npm run bench`: throughput and latency as ratios against baselines measured in the same run,
 * because absolute numbers drift on shared machines.
 *
 * Each ratio is the median over rounds of the two sides measured back to back (the order
 * alternating), which cancels most of the drift of a shared machine. p99 latencies come from one
 * more client timing its own requests at sub-millisecond resolution while autocannon loads the
 * server; server CPU time per request is printed beside the throughput rows.
 *
 * Rows:
 *  - fetch_api_key logins/s ÷ raw Argon2id verifications/s (same parameters, same concurrency); target ≥ 0.9
 *  - GET /api/v1/users/me with Basic auth ÷ a bare Fastify route with a body of the same size; target ≥ 0.8
 *  - the same with last-use tracking on ÷ off; target ≥ 0.95
 *  - users/me while a login storm saturates fetch_api_key ÷ quiet: throughput ≥ 0.5, p99 ≤ 3×
 *  - server RSS after 10,000 requests with distinct 8 KB junk usernames ÷ before; growth < 20 MiB
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { createInterface } from "node:readline";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import autocannon from "autocannon";
import pLimit from "p-limit";
import { ZULIP_ARGON2 } from "../src/config.js";
import { measureJunkGrowth } from "./junk-memory.js";

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HASH_CONCURRENCY = 2;
// Key-use load is spread over this many accounts, so that no account goes over Zulip's default
// 200 requests a minute (9,000 accounts allow 30,000 requests a second) and the key cache
// (10,000 entries by default) holds them all, as it would for a busy organization.
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 9000);

interface Started {
  child: ChildProcess;
  info: Record<string, unknown> & { port: number };
}

async function startServer(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/serve.ts", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, LATCHKEY_LOG_LEVEL: "silent" },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    lines.close();
    return { child, info: JSON.parse(line) };
  }
  throw new Error("benchmark server exited before listening");
}

async function stopServer(s: Started): Promise<number> {
  // Resident memory of the server, read before it stops.
  const rss = await readRssKiB(s.child.pid ?? 0);
  s.child.kill("SIGTERM");
  await once(s.child, "exit");
  return rss;
}

async function readRssKiB(pid: number): Promise<number> {
  try {
    const { readFile } = await import("node:fs/promises");
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** autocannon options that cycle GET /users/me through every account the server created. */
function keyUse(s: Started): autocannon.Options {
  const accounts = s.info.accounts as [string, string][];
  return {
    url: `http://127.0.0.1:${s.info.port}`,
    requests: accounts.map(([email, key]) => ({
      method: "GET",
      path: "/api/v1/users/me",
      headers: { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` },
    })),
  };
}

/**
 * Sends every account's request once, so that the measured rounds see the steady state of a
 * busy server (keys cached) rather than the first sight of each key.
 */
async function warmUp(s: Started): Promise<void> {
  const { url, requests = [] } = keyUse(s);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const request = requests[next++] as { path: string; headers: Record<string, string> };
      const res = await fetch(`${url}${request.path}`, { headers: request.headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`warm-up request answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

interface Load {
  rps: number;
  /** p99 latency in ms, as one more client sees it while the load runs (see `probeLatencies`). */
  p99: number;
  non2xx: number;
  /** Server CPU time (user + system) per answered request, in µs; 0 when not measured. */
  cpuUs: number;
}

const CLOCK_TICKS = 100;

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Latencies (ms) of one extra keep-alive client sending `requests` in turn until `done()`.
 * autocannon keeps latencies in whole milliseconds, too coarse for answers that take a fraction
 * of one, so p99 comes from this client, which waits in line with autocannon's connections.
 */
async function probeLatencies(url: string, requests: autocannon.Request[], done: () => boolean): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const out: number[] = [];
  for (let i = 0; !done(); i++) {
    const r = requests[i % requests.length] as { method?: string; path?: string; headers?: Record<string, string> };
    const started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        { agent, host: target.hostname, port: target.port, method: r.method ?? "GET", path: r.path, headers: r.headers },
        (res) => {
          res.resume();
          res.on("end", resolve);
        },
      );
      req.on("error", reject);
      req.end();
    });
    out.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  agent.destroy();
  return out;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}

/**
 * Loads a server with autocannon. With `server`, also measures its CPU time per request and,
 * for request lists, the p99 seen by one more client.
 */
async function load(opts: autocannon.Options, server: Started | null = null): Promise<Load> {
  const pid = server?.child.pid;
  const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
  let finished = false;
  const probe =
    server !== null && opts.requests !== undefined
      ? probeLatencies(String(opts.url), opts.requests, () => finished)
      : Promise.resolve([]);
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts });
  finished = true;
  const latencies = await probe;
  const cpuUs =
    pid === undefined ? 0 : ((cpuSeconds(pid) - cpuBefore) * 1e6) / Math.max(1, result.requests.total + latencies.length);
  return {
    rps: result.requests.average,
    p99: latencies.length > 0 ? percentile(latencies, 0.99) : result.latency.p99,
    non2xx: result.non2xx + result.errors,
    cpuUs,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const rows: { name: string; value: string; baseline: string; ratio: number; target: string }[] = [];

async function benchLogins(): Promise<void> {
  // Baseline: raw Argon2id verifications with Zulip's parameters, same concurrency as the server.
  const phc = await hash("bench-Passw0rd!", { ...ZULIP_ARGON2, algorithm: 2 as Algorithm, outputLen: 32 });
  const limit = pLimit(HASH_CONCURRENCY);
  const rawRates: number[] = [];
  const loginRates: number[] = [];
  // The server hashes with the same concurrency as the baseline.
  const server = await startServer(["latchkey", "--env", `LATCHKEY_HASH_CONCURRENCY=${HASH_CONCURRENCY}`]);
  const { port, email, password } = server.info as { port: number; email: string; password: string };
  const body = new URLSearchParams({ username: email, password }).toString();
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    const until = Date.now() + DURATION * 1000;
    const worker = async (): Promise<void> => {
      while (Date.now() < until) {
        await limit(() => verify(phc, "bench-Passw0rd!"));
        done++;
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
    rawRates.push(done / ((Date.now() - started) / 1000));

    const r = await load({
      url: `http://127.0.0.1:${port}/api/v1/fetch_api_key`,
      method: "POST",
      // More connections than hash slots, so the server's hasher is never idle between requests.
      connections: HASH_CONCURRENCY * 2,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    if (r.non2xx > 0) throw new Error(`fetch_api_key answered ${r.non2xx} non-2xx responses`);
    loginRates.push(r.rps);
  }
  const rss = await stopServer(server);
  const raw = median(rawRates);
  const logins = median(loginRates);
  rows.push({
    name: "fetch_api_key logins/s vs raw Argon2id verify/s (m=102400,t=2,p=8)",
    value: logins.toFixed(2),
    baseline: raw.toFixed(2),
    ratio: logins / raw,
    target: "≥ 0.90",
  });
  console.log(`  server RSS after login load: ${(rss / 1024).toFixed(1)} MiB`);
}

async function benchUsersMe(): Promise<void> {
  const server = await startServer(["latchkey", "--users", String(ACCOUNTS)]);
  const ourLoad = keyUse(server);
  const first = ourLoad.requests?.[0] as { headers: Record<string, string> };
  const probe = await fetch(`http://127.0.0.1:${server.info.port}/api/v1/users/me`, { headers: first.headers });
  const bodyBytes = (await probe.text()).length;
  if (probe.status !== 200) throw new Error(`users/me answered ${probe.status}`);
  const bare = await startServer(["bare", String(bodyBytes)]);
  await warmUp(server);
  // The bare route gets the very same requests, so the load generator does the same work.
  const bareLoad = { ...ourLoad, url: `http://127.0.0.1:${bare.info.port}` };
  const { a: ours, b: theirs } = await paired(
    () => load(ourLoad, server),
    () => load(bareLoad, bare),
  );
  if (ours.some((r) => r.non2xx > 0)) throw new Error("users/me answered non-2xx responses under load");
  const rss = await stopServer(server);
  await stopServer(bare);
  rows.push({
    name: `GET /users/me (Basic auth) req/s vs bare Fastify route, ${bodyBytes}-byte body`,
    value: median(ours.map((r) => r.rps)).toFixed(0),
    baseline: median(theirs.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(ours, theirs, (r) => r.rps),
    target: "≥ 0.80",
  });
  console.log(
    `  users/me p99 ${median(ours.map((r) => r.p99)).toFixed(2)} ms (bare ${median(theirs.map((r) => r.p99)).toFixed(2)} ms); ` +
      `server CPU per request ${median(ours.map((r) => r.cpuUs)).toFixed(1)} µs (bare ${median(theirs.map((r) => r.cpuUs)).toFixed(1)} µs, ` +
      `ratio ${pairedRatio(theirs, ours, (r) => r.cpuUs).toFixed(3)}); server RSS ${(rss / 1024).toFixed(1)} MiB`,
  );
}

/**
 * Runs `a` and `b` for ROUNDS rounds, alternating which goes first, so that whatever drifts
 * during a run (other load on a shared machine) does not always fall on the same side.
 */
async function paired(a: () => Promise<Load>, b: () => Promise<Load>): Promise<{ a: Load[]; b: Load[] }> {
  const as: Load[] = [];
  const bs: Load[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      bs.push(await b());
      as.push(await a());
    } else {
      as.push(await a());
      bs.push(await b());
    }
  }
  return { a: as, b: bs };
}

/** The median over rounds of a[i] / b[i]: each round's pair ran back to back, under the same conditions. */
function pairedRatio(a: Load[], b: Load[], of: (l: Load) => number): number {
  return median(a.map((x, i) => of(x) / of(b[i] as Load)));
}

/** users/me against a server started with `env`, alternating rounds with a second server. */
async function benchTracking(): Promise<void> {
  const users = ["--users", String(ACCOUNTS)];
  const on = await startServer(["latchkey", ...users, "--env", "LATCHKEY_TRACK_KEY_USE=true"]);
  const off = await startServer(["latchkey", ...users, "--env", "LATCHKEY_TRACK_KEY_USE=false"]);
  await warmUp(on);
  await warmUp(off);
  const { a: withTracking, b: without } = await paired(
    () => load(keyUse(on), on),
    () => load(keyUse(off), off),
  );
  if ([...withTracking, ...without].some((r) => r.non2xx > 0)) throw new Error("users/me answered non-2xx responses under load");
  await stopServer(on);
  await stopServer(off);
  rows.push({
    name: "GET /users/me req/s, last-use tracking on vs off",
    value: median(withTracking.map((r) => r.rps)).toFixed(0),
    baseline: median(without.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(withTracking, without, (r) => r.rps),
    target: "≥ 0.95",
  });
  console.log(
    `  tracking: server CPU per request ${median(withTracking.map((r) => r.cpuUs)).toFixed(1)} µs on, ` +
      `${median(without.map((r) => r.cpuUs)).toFixed(1)} µs off (ratio ${pairedRatio(without, withTracking, (r) => r.cpuUs).toFixed(3)})`,
  );
}

/** users/me throughput and p99 while fetch_api_key is flooded with logins, against quiet. */
async function benchStorm(): Promise<void> {
  const server = await startServer(["latchkey", "--users", String(ACCOUNTS)]);
  const { port, email, password } = server.info as { port: number; email: string; password: string };
  const keyLoad = keyUse(server);
  await warmUp(server);
  const quiet: Load[] = [];
  const stormy: Load[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    quiet.push(await load(keyLoad, server));
    const storm = autocannon({
      url: `http://127.0.0.1:${port}/api/v1/fetch_api_key`,
      method: "POST",
      connections: 32,
      duration: DURATION + 2,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: email, password }).toString(),
    });
    // Let the storm fill the hash queue before measuring.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    stormy.push(await load(keyLoad, server));
    await storm;
  }
  if ([...quiet, ...stormy].some((r) => r.non2xx > 0)) throw new Error("users/me answered non-2xx responses under load");
  const rss = await stopServer(server);
  const q = median(quiet.map((r) => r.rps));
  const s = median(stormy.map((r) => r.rps));
  const qp99 = median(quiet.map((r) => r.p99));
  const sp99 = median(stormy.map((r) => r.p99));
  rows.push({
    name: "GET /users/me req/s during a login storm vs quiet",
    value: s.toFixed(0),
    baseline: q.toFixed(0),
    ratio: pairedRatio(stormy, quiet, (r) => r.rps),
    target: "≥ 0.50",
  });
  rows.push({
    name: "GET /users/me p99 ms during a login storm vs quiet",
    value: sp99.toFixed(2),
    baseline: qp99.toFixed(2),
    ratio: pairedRatio(stormy, quiet, (r) => r.p99),
    target: "≤ 3.00",
  });
  console.log(`  server RSS after the storm: ${(rss / 1024).toFixed(1)} MiB`);
}

/** Server RSS before and after 10,000 requests with distinct 8 KB junk usernames (bench/junk-memory.ts). */
async function benchJunk(): Promise<void> {
  const result = await measureJunkGrowth(10_000, 8 * 1024);
  const growth = (result.afterKiB - result.beforeKiB) / 1024;
  rows.push({
    name: "server RSS MiB after 10,000 distinct 8 KB junk usernames vs before",
    value: (result.afterKiB / 1024).toFixed(1),
    baseline: (result.beforeKiB / 1024).toFixed(1),
    ratio: result.afterKiB / result.beforeKiB,
    target: "growth < 20 MiB",
  });
  console.log(`  junk credentials: RSS growth ${growth.toFixed(1)} MiB; answers ${JSON.stringify(result.statuses)}`);
}

function printTable(): void {
  const header = ["benchmark", "value", "baseline", "ratio", "target"];
  const body = rows.map((r) => [r.name, r.value, r.baseline, r.ratio.toFixed(3), r.target]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log();
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of body) console.log(line(row));
}

console.log(
  `Latchkey benchmarks: ${ROUNDS} rounds of ${DURATION}s each, ${CONNECTIONS} connections (logins: ${HASH_CONCURRENCY})`,
);
// BENCH_ONLY=logins,users-me,tracking,storm,junk runs a subset (all by default).
const only = new Set((process.env.BENCH_ONLY ?? "logins,users-me,tracking,storm,junk").split(","));
const benches: [string, () => Promise<void>][] = [
  ["logins", benchLogins],
  ["users-me", benchUsersMe],
  ["tracking", benchTracking],
  ["storm", benchStorm],
  ["junk", benchJunk],
];
for (const [name, run] of benches) if (only.has(name)) await run();
printTable();
