/**
 * `latchkey serve --workers N`: N server processes on one port (node:cluster), so that one
 * machine's cores all serve. The workers are nodes like any other: each has its own database
 * connections and key cache, kept in step exactly as separate nodes are (SQLite's data_version,
 * PostgreSQL NOTIFY or Redis). What they share through the primary process is what must be
 * machine-wide: the bound on concurrent password hashes (one set of permits, so N workers do
 * not run N times the Argon2 work), and the metrics page, which sums every worker's.
 *
 * The primary checks the settings, creates the secrets file and migrates the database once,
 * before any worker starts; it replaces a worker that dies, and on SIGTERM drains them all.
 */
import cluster, { type Worker } from "node:cluster";
import type { Server } from "node:http";
import { AggregatorRegistry } from "prom-client";
import type { HashGate } from "./auth/hash-pool.js";
import { bootWarnings, type Config, requireMailDestination } from "./config.js";
import { createLogger } from "./logging.js";
import { loadOrCreateSecrets } from "./secrets.js";
import { closeOnSignals, closeServer, type RunningServer, serveMetrics, startServer } from "./server.js";
import { openDatabase } from "./store/database.js";

type Message =
  | { latchkey: "listening"; port: number }
  | { latchkey: "hash-acquire" }
  | { latchkey: "hash-release" }
  | { latchkey: "hash-grant" }
  | { latchkey: "metrics-request"; id: number }
  | { latchkey: "metrics"; id: number; contentType: string; body: string };

function isMessage(raw: unknown): raw is Message {
  return typeof raw === "object" && raw !== null && typeof (raw as { latchkey?: unknown }).latchkey === "string";
}

/** The machine-wide permits to hash, held by the primary and lent to workers one at a time. */
class HashPermits {
  private available: number;
  private readonly waiting: Worker[] = [];
  private readonly held = new Map<Worker, number>();

  constructor(size: number) {
    this.available = size;
  }

  acquire(worker: Worker): void {
    if (this.available > 0) {
      this.available--;
      this.grant(worker);
    } else {
      this.waiting.push(worker);
    }
  }

  release(worker: Worker): void {
    const held = this.held.get(worker) ?? 0;
    if (held === 0) return;
    this.held.set(worker, held - 1);
    this.handOn();
  }

  /** A worker died: its permits come back, its requests are forgotten. */
  forget(worker: Worker): void {
    const held = this.held.get(worker) ?? 0;
    this.held.delete(worker);
    for (let i = this.waiting.indexOf(worker); i !== -1; i = this.waiting.indexOf(worker)) this.waiting.splice(i, 1);
    for (let i = 0; i < held; i++) this.handOn();
  }

  private handOn(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.available++;
    else this.grant(next);
  }

  private grant(worker: Worker): void {
    this.held.set(worker, (this.held.get(worker) ?? 0) + 1);
    worker.send({ latchkey: "hash-grant" } satisfies Message);
  }
}

/** The worker's side of the permits: one request to the primary per hash. */
function primaryHashGate(): HashGate {
  const granted: (() => void)[] = [];
  process.on("message", (raw: unknown) => {
    if (isMessage(raw) && raw.latchkey === "hash-grant") granted.shift()?.();
  });
  return {
    acquire(onGranted) {
      granted.push(onGranted);
      process.send?.({ latchkey: "hash-acquire" } satisfies Message);
    },
    release() {
      process.send?.({ latchkey: "hash-release" } satisfies Message);
    },
  };
}

/** The worker's metrics page: every worker's metrics, summed by the primary. */
function primaryMetrics(): () => Promise<{ contentType: string; body: string }> {
  let next = 0;
  const waiting = new Map<number, (answer: { contentType: string; body: string }) => void>();
  process.on("message", (raw: unknown) => {
    if (!isMessage(raw) || raw.latchkey !== "metrics") return;
    waiting.get(raw.id)?.({ contentType: raw.contentType, body: raw.body });
    waiting.delete(raw.id);
  });
  return () =>
    new Promise((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      process.send?.({ latchkey: "metrics-request", id } satisfies Message);
    });
}

/** Runs in each worker: a server like any node, hashing with the machine's permits. */
export async function runWorker(config: Config): Promise<void> {
  let server: RunningServer;
  try {
    server = await startServer(config, () => {}, {
      hashGate: primaryHashGate(),
      renderMetrics: primaryMetrics(),
      metricsPort: false,
      bootWarnings: false,
    });
  } catch (err) {
    // The primary reports a worker that could not start; the message is the worker's to give.
    console.error(`latchkey: ${(err as Error).message}`);
    process.exit(1);
  }
  closeOnSignals(server);
  // Without its primary (killed outright), a worker drains and leaves rather than linger.
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
  const address = server.app.server.address();
  process.send?.({
    latchkey: "listening",
    port: typeof address === "object" && address !== null ? address.port : 0,
  } satisfies Message);
}

/** Runs in the primary: checks and prepares once, then starts and keeps `count` workers. */
export async function runPrimary(config: Config, count: number, out: (line: string) => void = console.log): Promise<void> {
  if (config.mode === "production") requireMailDestination(config);
  const logger = createLogger(config.logLevel);
  for (const warning of bootWarnings(config)) logger.warn(warning);
  loadOrCreateSecrets(config.secretsFile);
  await (await openDatabase(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs })).close();

  const permits = new HashPermits(config.hashConcurrency);
  const aggregator = new AggregatorRegistry();
  const renderAll = async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
  let metricsServer: Server | null = null;
  if (config.metrics && config.metricsPort !== null)
    metricsServer = await serveMetrics({ render: renderAll }, config.host, config.metricsPort);

  let stopping = false;
  let started = false;
  const listening = new Set<Worker>();
  let ready: () => void = () => {};
  let failed: (err: Error) => void = () => {};
  const allListening = new Promise<number>((resolve, reject) => {
    ready = () => resolve(0);
    failed = reject;
  });
  let port = 0;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on("message", (raw: unknown) => {
      if (!isMessage(raw)) return;
      if (raw.latchkey === "listening") {
        port = raw.port;
        listening.add(worker);
        if (!started && listening.size === count) {
          started = true;
          ready();
        }
      } else if (raw.latchkey === "hash-acquire") {
        permits.acquire(worker);
      } else if (raw.latchkey === "hash-release") {
        permits.release(worker);
      } else if (raw.latchkey === "metrics-request") {
        renderAll().then(
          (page) => worker.send({ latchkey: "metrics", id: raw.id, ...page } satisfies Message),
          (err: unknown) =>
            worker.send({ latchkey: "metrics", id: raw.id, contentType: "text/plain", body: `# ${(err as Error).message}\n` }),
        );
      }
    });
    worker.on("exit", (code, signal) => {
      permits.forget(worker);
      const wasListening = listening.delete(worker);
      if (stopping) return;
      if (!started || !wasListening) {
        failed(new Error(`a worker could not start (exit code ${code ?? signal})`));
        return;
      }
      const replacement = fork();
      out(`Worker ${worker.process.pid} stopped (${signal ?? `exit code ${code}`}); started worker ${replacement.process.pid}`);
    });
    return worker;
  };

  for (let i = 0; i < count; i++) fork();
  try {
    await allListening;
  } catch (err) {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
    if (metricsServer !== null) await closeServer(metricsServer);
    throw err;
  }
  const pids = Object.values(cluster.workers ?? {}).map((w) => w?.process.pid);
  out(`Latchkey listening on ${config.host}:${port} with ${count} workers (pids ${pids.join(", ")})`);
  if (metricsServer !== null) out(`Metrics on ${config.host}:${config.metricsPort}/metrics (all workers)`);

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    out(`Latchkey: ${signal}: draining ${listening.size} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const codes = workers.map(
      (w) =>
        new Promise<number>((resolve) => {
          if (w.isDead()) resolve(0);
          else w.once("exit", (code) => resolve(code ?? 1));
        }),
    );
    for (const w of workers) w.process.kill("SIGTERM");
    void Promise.all(codes).then(async (all) => {
      if (metricsServer !== null) await closeServer(metricsServer);
      process.exit(all.every((c) => c === 0) ? 0 : 1);
    });
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
