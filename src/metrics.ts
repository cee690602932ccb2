/**
 * Prometheus metrics (`/metrics`, names prefixed `latchkey_`): logins by outcome and source,
 * throttle hits by rule, the key cache's hits, misses, flushes and size, the invalidation
 * channel's state, password hashing (queue depth and wait, Argon2 time), requests refused by
 * the HTTP layer, and request latency by route. One registry per server process; the rules
 * report through the domain's `Telemetry` port, the rest is read when scraped.
 */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { HashPoolObserver, HashPoolStats } from "./auth/hash-pool.js";
import type { KeyCache } from "./domain/key-cache.js";
import type { LoginOutcome, LoginSource, Telemetry } from "./domain/telemetry.js";

/** Latency buckets in seconds: key checks take well under a millisecond, logins a good fraction of a second. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What `watchHasher` reads from the password hasher (src/auth/password-hasher.ts). */
export interface HashingStats {
  stats(): HashPoolStats;
  observe(observer: HashPoolObserver): void;
}

export interface MetricsOptions {
  /** Also export the process's own metrics (CPU, memory, event-loop lag, ...): for a server, not for tests. */
  processMetrics?: boolean;
}

/** A counter that follows a number kept elsewhere (it only ever grows). */
function followingCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}

export class Metrics implements Telemetry {
  readonly registry = new Registry();
  private readonly logins = new Counter({
    name: "latchkey_logins_total",
    help: "Password logins by where they came in (api, json, web, dev) and how they ended.",
    labelNames: ["source", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly throttles = new Counter({
    name: "latchkey_throttle_hits_total",
    help: "Requests refused by a rate limit, by Zulip's rule name.",
    labelNames: ["rule"] as const,
    registers: [this.registry],
  });
  private readonly requests = new Histogram({
    name: "latchkey_http_request_duration_seconds",
    help: "Time to answer a request, by route pattern, method and status.",
    labelNames: ["route", "method", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: "latchkey_http_rejected_total",
    help: "Connections or requests the HTTP layer refused before routing (bad request, header or body timeout, oversized headers), by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "latchkey_" });
  }

  login(source: LoginSource, outcome: LoginOutcome): void {
    this.logins.inc({ source, outcome });
  }

  throttled(rule: string): void {
    this.throttles.inc({ rule });
  }

  /** Records a request answered after `seconds`. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.observe({ route, method, status: String(status) }, seconds);
  }

  /** Counts a connection or request refused before routing. */
  rejectedByHttp(reason: string): void {
    this.rejected.inc({ reason });
  }

  /** Exports the key cache's counters and the invalidation channel's state. */
  watchKeyCache(cache: KeyCache): void {
    followingCounter(
      this.registry,
      "latchkey_key_cache_hits_total",
      "Key checks answered from the cache.",
      () => cache.stats.hits,
    );
    followingCounter(
      this.registry,
      "latchkey_key_cache_misses_total",
      "Key checks that read the database.",
      () => cache.stats.misses,
    );
    followingCounter(
      this.registry,
      "latchkey_key_cache_flushes_total",
      "Times the whole key cache was dropped (another process's change, the invalidation channel's return).",
      () => cache.stats.flushes,
    );
    new Gauge({
      name: "latchkey_key_cache_entries",
      help: "Keys in the cache.",
      registers: [this.registry],
      collect() {
        this.set(cache.size);
      },
    });
    new Gauge({
      name: "latchkey_invalidation_channel_up",
      help: "1 while this node hears other nodes' key-cache invalidations (and so trusts its cache), 0 while it reads every key from the database.",
      registers: [this.registry],
      // Summed over `serve --workers`, 1 only if every worker hears.
      aggregator: "min",
      collect() {
        this.set(cache.trusted ? 1 : 0);
      },
    });
  }

  /**
   * Exports password hashing: the queue's depth (waiting and running), the wait for a thread,
   * Argon2's own time, and the jobs refused (queue full) or dropped (client gone).
   */
  watchHasher(hasher: HashingStats): void {
    const wait = new Histogram({
      name: "latchkey_hash_queue_wait_seconds",
      help: "Time a password check waited for a hashing thread.",
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    const argon2 = new Histogram({
      name: "latchkey_argon2_seconds",
      help: "Time a hashing thread spent on one Argon2 hash or verification.",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
      registers: [this.registry],
    });
    hasher.observe({ waited: (s) => wait.observe(s), ran: (s) => argon2.observe(s) });
    new Gauge({
      name: "latchkey_hash_queue_depth",
      help: "Password checks waiting for a hashing thread (state=queued) or on one (state=running).",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const { queued, running } = hasher.stats();
        this.set({ state: "queued" }, queued);
        this.set({ state: "running" }, running);
      },
    });
    followingCounter(
      this.registry,
      "latchkey_hash_queue_refused_total",
      "Logins refused at once because the hash queue was full.",
      () => hasher.stats().refused,
    );
    followingCounter(
      this.registry,
      "latchkey_hash_queue_dropped_total",
      "Queued password checks dropped unstarted because their client went away.",
      () => hasher.stats().dropped,
    );
  }

  private renderer: (() => Promise<{ contentType: string; body: string }>) | null = null;

  /** Serves `render` instead of this registry's own page (a worker shows every worker's sum). */
  renderWith(render: () => Promise<{ contentType: string; body: string }>): void {
    this.renderer = render;
    // The primary collects this registry through prom-client's cluster messages, which a worker
    // answers once an AggregatorRegistry has been made in it.
    AggregatorRegistry.setRegistries([this.registry]);
    new AggregatorRegistry();
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (this.renderer !== null) return this.renderer();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
