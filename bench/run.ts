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
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import autocannon from "autocannon";
import pLimit from "p-limit";
import { ZULIP_ARGON2 } from "../src/config.js";
import { type NodeProcess, startNode } from "../test/cluster-helper.js";
import { freshPostgresUrl } from "../test/helper.js";
import { type Nginx, startNginx } from "../test/nginx-helper.js";
import { measureJunkGrowth } from "./junk-memory.js";
import { populate, secretsIn } from "./populate.js";

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
  /** What the server printed after its first line (bench/serve.ts: its counts, when it stops). */
  later: string[];
}

async function startServer(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/serve.ts", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, LATCHKEY_LOG_LEVEL: "silent" },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const later: string[] = [];
  return new Promise((resolve, reject) => {
    let first = true;
    lines.on("line", (line) => {
      if (!first) {
        later.push(line);
        return;
      }
      first = false;
      resolve({ child, info: JSON.parse(line), later });
    });
    child.once("exit", () => first && reject(new Error("benchmark server exited before listening")));
  });
}

async function stopServer(s: Started): Promise<number> {
  // Resident memory of the server, read before it stops.
  const rss = await readRssKiB(s.child.pid ?? 0);
  s.child.kill("SIGTERM");
  // "close": after its last line has been read too.
  await once(s.child, "close");
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
  /** p50 and p99 latency in ms, as one more client sees it while the load runs (see `probeLatencies`). */
  p50: number;
  p99: number;
  non2xx: number;
  /** What the non-2xx answers were: status codes with their counts, socket errors and timeouts. */
  failures: string;
  /** Server CPU time (user + system) per answered request, in µs; 0 when not measured. */
  cpuUs: number;
  /** Cores' worth of CPU the server processes and the load generator (this process) used. */
  serverCores: number;
  loadCores: number;
}

const CLOCK_TICKS = 100;

/** CPU seconds a process and its children (the workers of `serve --workers`) have used so far, from /proc. */
function cpuSeconds(pid: number): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fields: string[];
    try {
      fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    } catch {
      continue;
    }
    // fields[1] is the parent's pid; utime and stime are fields[11] and [12].
    if (Number(entry) === pid || Number(fields[1]) === pid) total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }
  return total;
}

/**
 * Starts bench/probe.ts with `task` (one more client in a process of its own) and resolves once
 * it is ready; `stop()` ends it and resolves with what it saw.
 */
async function startProbe<T>(task: object): Promise<{ stop(): Promise<T> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/probe.ts"], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  child.stdin?.write(`${JSON.stringify(task)}\n`);
  if ((await lines.next()).value !== "ready") throw new Error("the probe did not start");
  return {
    stop: async () => {
      child.stdin?.end();
      const result = await lines.next();
      if (result.done) throw new Error("the probe exited without its results");
      return JSON.parse(result.value) as T;
    },
  };
}

/**
 * The latencies (ms) one more keep-alive client sees, in its own process, sending `requests` in
 * turn while the load runs. autocannon keeps latencies in whole milliseconds, too coarse for
 * answers that take a fraction of one, so p50 and p99 come from this client, which waits in line
 * with autocannon's connections.
 */
function probeLatencies(url: string, requests: autocannon.Request[]): Promise<{ stop(): Promise<number[]> }> {
  const plain = (requests as { method?: string; path?: string; headers?: Record<string, string> }[]).map(
    ({ method, path, headers }) => ({ method, path, headers }),
  );
  return startProbe<number[]>({ kind: "latency", url, requests: plain });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}

/**
 * Loads a server with autocannon. With `server`, also measures its CPU time per request and,
 * for request lists, the p99 seen by one more client.
 */
async function load(opts: autocannon.Options, server: Started | number[] | null = null): Promise<Load> {
  const pids = server === null ? [] : Array.isArray(server) ? server : [server.child.pid ?? 0];
  const serverCpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const probe = server !== null && opts.requests !== undefined ? await probeLatencies(String(opts.url), opts.requests) : null;
  const cpuBefore = serverCpu();
  const ownBefore = process.cpuUsage();
  const startedAt = performance.now();
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts });
  const latencies = probe === null ? [] : await probe.stop();
  const wall = (performance.now() - startedAt) / 1000;
  const serverSeconds = serverCpu() - cpuBefore;
  const own = process.cpuUsage(ownBefore);
  return {
    rps: result.requests.average,
    p50: latencies.length > 0 ? percentile(latencies, 0.5) : result.latency.p50,
    p99: latencies.length > 0 ? percentile(latencies, 0.99) : result.latency.p99,
    non2xx: result.non2xx + result.errors,
    failures: [
      ...Object.entries(result.statusCodeStats ?? {})
        .filter(([code]) => !code.startsWith("2"))
        .map(([code, stat]) => `${stat.count}×${code}`),
      ...(result.errors > 0 ? [`${result.errors} errors (${result.timeouts} timeouts)`] : []),
    ].join(", "),
    cpuUs: pids.length === 0 ? 0 : (serverSeconds * 1e6) / Math.max(1, result.requests.total + latencies.length),
    serverCores: serverSeconds / wall,
    loadCores: (own.user + own.system) / 1e6 / wall,
  };
}

/** Fails the run when any load got a non-2xx answer, saying which. */
function allAnswered(loads: Load[], what: string): void {
  const failed = loads.filter((r) => r.non2xx > 0);
  if (failed.length > 0) throw new Error(`${what} answered non-2xx responses: ${failed.map((r) => r.failures).join("; ")}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** `cpu`: server CPU time per request, this side ÷ the baseline's (throughput rows). */
const rows: { name: string; value: string; baseline: string; ratio: number; target: string; cpu?: number }[] = [];

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
  allAnswered(ours, "users/me under load");
  const rss = await stopServer(server);
  await stopServer(bare);
  rows.push({
    name: `GET /users/me (Basic auth) req/s vs bare Fastify route, ${bodyBytes}-byte body`,
    value: median(ours.map((r) => r.rps)).toFixed(0),
    baseline: median(theirs.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(ours, theirs, (r) => r.rps),
    target: "≥ 0.80",
    cpu: pairedRatio(ours, theirs, (r) => r.cpuUs),
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

/**
 * users/me with last-use tracking on against off. Tracking writes each key's use at most once per
 * interval; with the default 60 s, the warm-up has already written every key and the measured
 * window would see no write at all. The interval is 1 s on both servers here, so that every key
 * in use is written again every second of the window: the writes counted are printed.
 */
async function benchTracking(): Promise<void> {
  const users = ["--users", String(ACCOUNTS)];
  const interval = ["--env", "LATCHKEY_TRACK_KEY_USE_INTERVAL=1"];
  const on = await startServer(["latchkey", ...users, ...interval, "--env", "LATCHKEY_TRACK_KEY_USE=true"]);
  const off = await startServer(["latchkey", ...users, ...interval, "--env", "LATCHKEY_TRACK_KEY_USE=false"]);
  await warmUp(on);
  await warmUp(off);
  const { a: withTracking, b: without } = await paired(
    () => load(keyUse(on), on),
    () => load(keyUse(off), off),
  );
  allAnswered([...withTracking, ...without], "users/me under load");
  await stopServer(on);
  await stopServer(off);
  const counts = JSON.parse(on.later.find((l) => l.includes("keyUseWrites")) ?? "{}") as {
    keyUseWrites?: number;
    keyUseStatements?: number;
  };
  const writes = counts.keyUseWrites ?? 0;
  const answered = withTracking.reduce((n, r) => n + r.rps * DURATION, 0);
  rows.push({
    name: "GET /users/me req/s, last-use tracking on (written every 1 s per key) vs off",
    value: median(withTracking.map((r) => r.rps)).toFixed(0),
    baseline: median(without.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(withTracking, without, (r) => r.rps),
    target: "≥ 0.95",
    cpu: pairedRatio(withTracking, without, (r) => r.cpuUs),
  });
  console.log(
    `  tracking: ${writes} key uses written in ${counts.keyUseStatements ?? 0} statements for about ${answered.toFixed(0)} requests measured (plus warm-up); ` +
      `server CPU per request ${median(withTracking.map((r) => r.cpuUs)).toFixed(1)} µs on, ${median(without.map((r) => r.cpuUs)).toFixed(1)} µs off`,
  );
}

/** How many password checks may wait (LATCHKEY_HASH_QUEUE_MAX's default) and run (cores − 1). */
const QUEUE_MAX = 32;
const HASHING = Math.max(1, availableParallelism() - 1);
const STORM_USERNAMES = 100_000;
/**
 * The storm beyond the bound: login attempts sent at this rate whatever the answers (open loop,
 * as a botnet sends them), about a thousand times what one hashing thread checks.
 */
const STORM_RATE = 1000;
/** Probe logins a second, timed one by one beside a storm. */
const PROBE_RATE = 20;

/**
 * A login storm as an attacker would send it: thousands of distinct usernames, each from its own
 * address (through a trusted proxy's X-Forwarded-For, so no per-address or per-account limit
 * refuses them before the hash queue does), and each a failed login that costs a full Argon2
 * verification.
 */
let stormNext = 0;

function stormRequests(): autocannon.Request[] {
  // One request template whose username and address are drawn afresh for every attempt, shared by
  // all connections and storms (so no username comes back before 100,000 others), at no memory cost.
  return [
    {
      method: "POST",
      path: "/api/v1/fetch_api_key",
      setupRequest: (request) => {
        const i = stormNext++ % STORM_USERNAMES;
        return {
          ...request,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "x-forwarded-for": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          },
          body: `username=storm${i}%40bench.test&password=guess-${i}`,
        };
      },
    },
  ];
}

/**
 * users/me throughput and p99 while fetch_api_key is flooded, against quiet: first a storm that
 * keeps the hash queue exactly full (QUEUE_MAX + HASHING connections, each sending its next login
 * when the last is answered), then one far beyond it: STORM_RATE attempts a second over four
 * times as many connections, sent whatever the answers. Logins beyond capacity must be refused
 * fast (503), not queued.
 */
async function benchStorm(): Promise<void> {
  const server = await startServer(["latchkey", "--users", String(ACCOUNTS), "--env", "LATCHKEY_TRUSTED_PROXIES=127.0.0.1"]);
  const { port } = server.info as { port: number };
  const keyLoad = keyUse(server);
  await warmUp(server);
  // Probe logins sent so far: each probe goes on from there, with usernames and addresses unused.
  let probed = 0;
  const storm =
    (connections: number, rate?: number) =>
    async (): Promise<{ load: Load; logins: { status: number; ms: number }[]; sent: autocannon.Result }> => {
      const flood = autocannon({
        url: `http://127.0.0.1:${port}`,
        connections,
        duration: DURATION + 2,
        requests: stormRequests(),
        // Storm clients wait as long as the queue makes them (autocannon's 10 s default would hang up
        // and free their places in the queue).
        timeout: 60,
        ...(rate === undefined ? {} : { overallRate: rate }),
      });
      // Let the storm fill the hash queue before measuring.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // Logins of usernames and from addresses the storm does not use, so that what they meet
      // is the hash queue, not a throttle; sent at a steady PROBE_RATE whatever the answers, so
      // that they sample the queue at arbitrary moments rather than each waiting out the last.
      const logins = await startProbe<{ status: number; ms: number }[]>({ kind: "logins", port, rate: PROBE_RATE, from: probed });
      const measured = await load(keyLoad, server);
      const seen = await logins.stop();
      probed += seen.length;
      const sent = await flood;
      return { load: measured, logins: seen, sent };
    };
  const quiet: Load[] = [];
  const atBound: Load[] = [];
  const beyond: Load[] = [];
  const atLogins: { status: number; ms: number }[] = [];
  const beyondLogins: { status: number; ms: number }[] = [];
  const floods: autocannon.Result[][] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    quiet.push(await load(keyLoad, server));
    const at = await storm(QUEUE_MAX + HASHING)();
    atBound.push(at.load);
    atLogins.push(...at.logins);
    floods[0]?.push(at.sent);
    const over = await storm(4 * (QUEUE_MAX + HASHING), STORM_RATE)();
    beyond.push(over.load);
    beyondLogins.push(...over.logins);
    floods[1]?.push(over.sent);
  }
  allAnswered([...quiet, ...atBound, ...beyond], "users/me under load");
  const rss = await stopServer(server);
  for (const [label, loads] of [
    ["at the hash queue's bound", atBound],
    [`of ${STORM_RATE} attempts/s far beyond the hash queue's bound`, beyond],
  ] as const) {
    rows.push({
      name: `GET /users/me req/s during a login storm ${label} vs quiet`,
      value: median(loads.map((r) => r.rps)).toFixed(0),
      baseline: median(quiet.map((r) => r.rps)).toFixed(0),
      ratio: pairedRatio(loads, quiet, (r) => r.rps),
      target: "≥ 0.50",
      cpu: pairedRatio(loads, quiet, (r) => r.cpuUs),
    });
    rows.push({
      name: `GET /users/me p99 ms during a login storm ${label} vs quiet`,
      value: median(loads.map((r) => r.p99)).toFixed(2),
      baseline: median(quiet.map((r) => r.p99)).toFixed(2),
      ratio: pairedRatio(loads, quiet, (r) => r.p99),
      target: "≤ 3.00",
    });
  }
  const count = (xs: { status: number }[]) =>
    JSON.stringify(xs.reduce<Record<number, number>>((m, x) => Object.assign(m, { [x.status]: (m[x.status] ?? 0) + 1 }), {}));
  // A probe login meets the hash queue (checked: 401; refused: 503) or the row times something else.
  const astray = [...atLogins, ...beyondLogins].filter((l) => l.status !== 401 && l.status !== 503);
  if (astray.length > 0) throw new Error(`probe logins met something besides the hash queue: ${count(astray)}`);
  const refused = beyondLogins.filter((l) => l.status === 503).map((l) => l.ms);
  // A login that was checked (its password hashed), from either storm: what a refusal is compared with.
  const checked = [...atLogins, ...beyondLogins].filter((l) => l.status === 401 || l.status === 200).map((l) => l.ms);
  rows.push({
    name: `storm of ${STORM_RATE} attempts/s: refused login (503) p99 ms vs a checked login's p50 ms`,
    value: refused.length === 0 ? "none refused" : percentile(refused, 0.99).toFixed(2),
    baseline: percentile(checked, 0.5).toFixed(2),
    // No refusal seen: the storm did not reach the bound, and the row fails rather than pass on nothing.
    ratio:
      refused.length === 0 ? Number.POSITIVE_INFINITY : percentile(refused, 0.99) / Math.max(0.001, percentile(checked, 0.5)),
    target: "≤ 0.10",
  });
  const sent = (results: autocannon.Result[]) => {
    const byStatus: Record<string, number> = {};
    for (const r of results)
      for (const [code, stat] of Object.entries(r.statusCodeStats ?? {}))
        byStatus[code] = (byStatus[code] ?? 0) + (stat?.count ?? 0);
    const total = results.reduce((n, r) => n + r.requests.sent, 0);
    return `${total} attempts sent over ${results.length * (DURATION + 2)} s, answered ${JSON.stringify(byStatus)}`;
  };
  console.log(`  storm at the bound: ${sent(floods[0] ?? [])}; beyond: ${sent(floods[1] ?? [])}`);
  console.log(
    `  storm: ${STORM_USERNAMES} usernames from as many addresses; queue bound ${QUEUE_MAX}, ${HASHING} hashing thread(s); ` +
      `probe logins at the bound ${count(atLogins)}, beyond ${count(beyondLogins)}; server RSS after ${(rss / 1024).toFixed(1)} MiB`,
  );
}

/** A `latchkey serve` process (the real command) on `databaseUrl`, quiet, with `workers` workers. */
function cliServer(dir: string, databaseUrl: string, extra: Record<string, string>, workers: number): Promise<NodeProcess> {
  return startNode(
    {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_EXTERNAL_HOST: "127.0.0.1",
      LATCHKEY_EXTERNAL_SCHEME: "http",
      LATCHKEY_DATABASE_URL: databaseUrl,
      LATCHKEY_SECRETS_FILE: secretsIn(dir),
      LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
      LATCHKEY_SEND_LOGIN_EMAILS: "false",
      LATCHKEY_LOG_LEVEL: "silent",
      ...extra,
    },
    ["serve", "--workers", String(workers)],
  );
}

/** autocannon options cycling GET /users/me over `accounts` at `url`. */
function keyUseAt(url: string, accounts: [string, string][]): autocannon.Options {
  return {
    url,
    requests: accounts.map(([email, key]) => ({
      method: "GET",
      path: "/api/v1/users/me",
      headers: { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` },
    })),
  };
}

/** Sends every request of `opts` once (twice with `passes`), failing on any non-200. */
async function warmAt(opts: autocannon.Options, passes = 1): Promise<void> {
  const requests = (opts.requests ?? []) as { path: string; headers: Record<string, string> }[];
  let next = 0;
  const total = requests.length * passes;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const request = requests[next++ % requests.length] as { path: string; headers: Record<string, string> };
      const res = await fetch(`${opts.url}${request.path}`, { headers: request.headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`warm-up request answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

const cores = (loads: Load[], of: (l: Load) => number) => median(loads.map(of)).toFixed(2);

/** users/me with `serve --workers 2` against `--workers 1`, same SQLite database, same accounts. */
async function benchWorkers(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-workers-"));
  const databaseUrl = join(dir, "bench.sqlite");
  const { sample } = await populate(databaseUrl, secretsIn(dir), ACCOUNTS, ACCOUNTS);
  const one = await cliServer(dir, databaseUrl, {}, 1);
  const two = await cliServer(dir, databaseUrl, {}, 2);
  const oneLoad = keyUseAt(`http://127.0.0.1:${one.port}`, sample);
  const twoLoad = keyUseAt(`http://127.0.0.1:${two.port}`, sample);
  await warmAt(oneLoad);
  // Connections go to either worker: two passes warm both caches.
  await warmAt(twoLoad, 2);
  const { a: withTwo, b: withOne } = await paired(
    () => load(twoLoad, [two.child.pid ?? 0]),
    () => load(oneLoad, [one.child.pid ?? 0]),
  );
  await one.stop();
  await two.stop();
  rmSync(dir, { recursive: true, force: true });
  allAnswered([...withTwo, ...withOne], "users/me under load");
  rows.push({
    name: `GET /users/me req/s, serve --workers 2 vs --workers 1 (SQLite, ${ACCOUNTS} accounts)`,
    value: median(withTwo.map((r) => r.rps)).toFixed(0),
    baseline: median(withOne.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(withTwo, withOne, (r) => r.rps),
    target: "> 1 (2 cores, shared with the load generator)",
    cpu: pairedRatio(withTwo, withOne, (r) => r.cpuUs),
  });
  console.log(
    `  workers: cores used by the server ${cores(withTwo, (l) => l.serverCores)} with 2 workers, ${cores(withOne, (l) => l.serverCores)} with 1; ` +
      `by the load generator ${cores(withTwo, (l) => l.loadCores)} and ${cores(withOne, (l) => l.loadCores)} (of ${availableParallelism()})`,
  );
}

const NGINX_RECONNECT = 500;

/** users/me through nginx (deploy/nginx-latchkey.conf) to two nodes against one node, same database. */
async function benchNginx(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-nginx-"));
  const databaseUrl = join(dir, "bench.sqlite");
  const { sample } = await populate(databaseUrl, secretsIn(dir), ACCOUNTS, ACCOUNTS);
  const trust = { LATCHKEY_TRUSTED_PROXIES: "loopback" };
  const nodes = [await cliServer(dir, databaseUrl, trust, 1), await cliServer(dir, databaseUrl, trust, 1)];
  const toBoth = await startNginx({ upstreams: nodes.map((n) => n.port), dir: join(dir, "both"), tls: false });
  const toOne = await startNginx({ upstreams: [nodes[0]?.port as number], dir: join(dir, "one"), tls: false });
  // nginx ends a client connection after keepalive_requests (1000) answers with
  // `Connection: close`, which autocannon does not heed (its next request meets a closed
  // socket); its connections reconnect every NGINX_RECONNECT requests instead, as a client that
  // honours the header would.
  const bothLoad = { ...keyUseAt(`http://127.0.0.1:${toBoth.port}`, sample), reconnectRate: NGINX_RECONNECT };
  const oneLoad = { ...keyUseAt(`http://127.0.0.1:${toOne.port}`, sample), reconnectRate: NGINX_RECONNECT };
  await warmAt(bothLoad, 2);
  await warmAt(oneLoad);
  const pids = (n: Nginx, servers: NodeProcess[]) => [n.pid, ...servers.map((s) => s.child.pid ?? 0)];
  const { a: two, b: one } = await paired(
    () => load(bothLoad, pids(toBoth, nodes)),
    () => load(oneLoad, pids(toOne, nodes.slice(0, 1))),
  );
  await toBoth.stop();
  await toOne.stop();
  for (const n of nodes) await n.stop();
  rmSync(dir, { recursive: true, force: true });
  allAnswered([...two, ...one], "users/me through nginx");
  rows.push({
    name: `GET /users/me req/s through nginx (plain HTTP, clients reconnect every ${NGINX_RECONNECT} requests), two nodes vs one node (same SQLite database)`,
    value: median(two.map((r) => r.rps)).toFixed(0),
    baseline: median(one.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(two, one, (r) => r.rps),
    target: "> 1 (2 cores, shared with nginx and the load generator)",
    cpu: pairedRatio(two, one, (r) => r.cpuUs),
  });
  console.log(
    `  nginx: cores used by nginx and the nodes ${cores(two, (l) => l.serverCores)} with two nodes, ${cores(one, (l) => l.serverCores)} with one; ` +
      `by the load generator ${cores(two, (l) => l.loadCores)} and ${cores(one, (l) => l.loadCores)} (of ${availableParallelism()})`,
  );
}

const SCALE_USERS = Number(process.env.BENCH_SCALE_USERS ?? 1_000_000);
const SMALL_USERS = 1000;
const WORKING_SET = 1000;
const SMALL_CACHE = 100;

/**
 * Key checks on a database of SCALE_USERS accounts against one of SMALL_USERS, each server with
 * a key cache of SMALL_CACHE entries over a working set of WORKING_SET keys, so that most checks
 * read the database. The per-user limit is lifted (60:1000000) so that it does not cap the load.
 */
async function benchScale(dialect: "sqlite" | "postgres"): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-scale-${dialect}-`));
  const dropped: (() => Promise<void>)[] = [];
  const url = async (name: string): Promise<string> => {
    if (dialect === "sqlite") return join(dir, `${name}.sqlite`);
    const pg = await freshPostgresUrl();
    if (pg === null) throw new Error("PostgreSQL is needed for the PostgreSQL scale rows");
    dropped.push(pg.drop);
    return pg.url;
  };
  const smallUrl = await url("small");
  const bigUrl = await url("big");
  let started = performance.now();
  const small = await populate(smallUrl, secretsIn(dir), SMALL_USERS, WORKING_SET);
  const big = await populate(bigUrl, secretsIn(dir), SCALE_USERS, WORKING_SET);
  const fillSeconds = (performance.now() - started) / 1000;
  const env = { LATCHKEY_KEY_CACHE_SIZE: String(SMALL_CACHE), LATCHKEY_RATE_LIMIT_USER: "60:1000000" };
  const smallServer = await cliServer(dir, smallUrl, env, 1);
  const bigServer = await cliServer(dir, bigUrl, env, 1);
  const smallLoad = keyUseAt(`http://127.0.0.1:${smallServer.port}`, small.sample);
  const bigLoad = keyUseAt(`http://127.0.0.1:${bigServer.port}`, big.sample);
  started = performance.now();
  await warmAt(smallLoad);
  await warmAt(bigLoad);
  const { a: bigRuns, b: smallRuns } = await paired(
    () => load(bigLoad, [bigServer.child.pid ?? 0]),
    () => load(smallLoad, [smallServer.child.pid ?? 0]),
  );
  const measureSeconds = (performance.now() - started) / 1000;
  const bigRss = await readRssKiB(bigServer.child.pid ?? 0);
  const smallRss = await readRssKiB(smallServer.child.pid ?? 0);
  await bigServer.stop();
  await smallServer.stop();
  for (const drop of dropped) await drop();
  rmSync(dir, { recursive: true, force: true });
  allAnswered([...bigRuns, ...smallRuns], "users/me under load");
  const what = `${dialect === "sqlite" ? "SQLite" : "PostgreSQL"}, ${SCALE_USERS.toLocaleString("en")} vs ${SMALL_USERS.toLocaleString("en")} accounts`;
  rows.push({
    name: `GET /users/me req/s, ${what} (cache ${SMALL_CACHE} < working set ${WORKING_SET})`,
    value: median(bigRuns.map((r) => r.rps)).toFixed(0),
    baseline: median(smallRuns.map((r) => r.rps)).toFixed(0),
    ratio: pairedRatio(bigRuns, smallRuns, (r) => r.rps),
    target: "≥ 0.83 (1/1.2)",
    cpu: pairedRatio(bigRuns, smallRuns, (r) => r.cpuUs),
  });
  for (const [label, of] of [
    ["p50", (r: Load) => r.p50],
    ["p99", (r: Load) => r.p99],
  ] as const) {
    rows.push({
      name: `GET /users/me ${label} ms, ${what}`,
      value: median(bigRuns.map(of)).toFixed(2),
      baseline: median(smallRuns.map(of)).toFixed(2),
      ratio: pairedRatio(bigRuns, smallRuns, of),
      target: "≤ 1.20",
    });
  }
  rows.push({
    name: `server RSS MiB per node, ${what}`,
    value: (bigRss / 1024).toFixed(1),
    baseline: (smallRss / 1024).toFixed(1),
    ratio: bigRss / smallRss,
    target: "(reported)",
  });
  console.log(
    `  scale (${dialect}): filling the databases took ${fillSeconds.toFixed(0)} s, warming and measuring ${measureSeconds.toFixed(0)} s`,
  );
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
  const header = ["benchmark", "value", "baseline", "ratio", "target", "CPU/req ratio"];
  const body = rows.map((r) => [
    r.name,
    r.value,
    r.baseline,
    r.ratio.toFixed(3),
    r.target,
    r.cpu === undefined ? "" : r.cpu.toFixed(3),
  ]);
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
// BENCH_ONLY=logins,users-me,tracking,storm,junk,workers,nginx runs a subset (all by default);
// `npm run bench -- --scale` adds the long rows (scale-sqlite, scale-postgres).
const scale = process.argv.includes("--scale");
const only = new Set(
  (
    process.env.BENCH_ONLY ?? `logins,users-me,tracking,storm,junk,workers,nginx${scale ? ",scale-sqlite,scale-postgres" : ""}`
  ).split(","),
);
const benches: [string, () => Promise<void>][] = [
  ["logins", benchLogins],
  ["users-me", benchUsersMe],
  ["tracking", benchTracking],
  ["storm", benchStorm],
  ["junk", benchJunk],
  ["workers", benchWorkers],
  ["nginx", benchNginx],
  ["scale-sqlite", () => benchScale("sqlite")],
  ["scale-postgres", () => benchScale("postgres")],
];
for (const [name, run] of benches) if (only.has(name)) await run();
printTable();
