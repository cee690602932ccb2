/**
 * The in-process cache in front of API-key lookups: key digest → the user and organization it
 * authenticates. Any change to a user or an organization must invalidate it; `src/domain`
 * operations do so after they commit, and a broadcaster repeats it on other nodes.
 *
 * Revocation must hold when the broadcast does not arrive, so the cache never trusts itself
 * for long: every entry expires after a bounded lifetime (the worst case for a change no
 * node heard), and while the node's invalidation channel is down the cache is not consulted
 * at all; when the channel returns, the cache is flushed whole, since anything may have
 * changed meanwhile.
 */
import { LRUCache } from "lru-cache";
import type { Realm, User } from "./model.js";

export interface Principal {
  user: User;
  realm: Realm;
  /** The user's real email as Basic-auth usernames are compared with it (lower-cased). */
  emailKey: string;
  /** The user's key in the `api_by_user` rate limit. */
  rateKey: string;
}

export function makePrincipal(user: User, realm: Realm): Principal {
  return { user, realm, emailKey: user.deliveryEmail.toLowerCase(), rateKey: `api_by_user:${user.id}` };
}

export type Invalidation = { kind: "user"; userId: number } | { kind: "realm"; realmId: number } | { kind: "all" };

export interface KeyCacheOptions {
  /** Entries kept at most; 0 turns the cache off. */
  maxEntries: number;
  /** How long an entry may be trusted, in milliseconds. */
  ttlMs: number;
  /** A monotonic clock in milliseconds (`performance.now()` by default); tests pass their own. */
  now?: () => number;
}

/** What the cache has done since it was made, for metrics. */
export interface KeyCacheStats {
  hits: number;
  misses: number;
  /** Whole-cache drops: a change from another process, or the invalidation channel's return. */
  flushes: number;
}

export class KeyCache {
  private readonly entries: LRUCache<string, Principal> | null;
  private readonly digestsByUser = new Map<number, Set<string>>();
  private readonly listeners: ((event: Invalidation) => void)[] = [];
  readonly stats: KeyCacheStats = { hits: 0, misses: 0, flushes: 0 };
  /** Until a channel says otherwise, only this process changes the data: the cache is trusted. */
  private channelUp = true;

  constructor(options: KeyCacheOptions) {
    const now = options.now;
    this.entries =
      options.maxEntries > 0
        ? new LRUCache<string, Principal>({
            max: options.maxEntries,
            ttl: options.ttlMs,
            // Checked on every read: an expired entry is never returned.
            ttlResolution: 0,
            updateAgeOnGet: false,
            ...(now === undefined ? {} : { perf: { now } }),
            dispose: (principal, digest) => this.forget(principal.user.id, digest),
          })
        : null;
  }

  private staleCheck: (() => boolean) | null = null;

  /**
   * Installs a check run before every lookup; when it reports that another process changed
   * the data, the whole cache is dropped.
   */
  setStaleCheck(check: () => boolean): void {
    this.staleCheck = check;
  }

  /**
   * Counts invalidations. A lookup that read the database notes it before reading and stores
   * its answer only if no invalidation came in between: otherwise a key regenerated while the
   * lookup was in flight could be cached again after its invalidation, and keep working.
   */
  private generation = 0;

  get epoch(): number {
    return this.generation;
  }

  /** Whether the invalidation channel is up, so that cached answers may be given. */
  get trusted(): boolean {
    return this.channelUp;
  }

  /**
   * The node can no longer hear other nodes' invalidations: every lookup goes to the
   * database until `channelRestored()`.
   */
  channelLost(): void {
    if (!this.channelUp) return;
    this.channelUp = false;
    this.flush();
  }

  /** The channel is back: drop everything (changes made meanwhile were not heard) and trust again. */
  channelRestored(): void {
    this.flush();
    this.channelUp = true;
  }

  get(digest: string): Principal | undefined {
    if (this.entries === null) return undefined;
    if (this.staleCheck?.()) this.flush();
    const found = this.channelUp ? this.entries.get(digest) : undefined;
    if (found === undefined) this.stats.misses++;
    else this.stats.hits++;
    return found;
  }

  /** Caches `principal`; with `epoch` (from before the lookup), only if nothing was invalidated since. */
  set(digest: string, principal: Principal, epoch?: number): void {
    if (this.entries === null || !this.channelUp) return;
    if (epoch !== undefined && epoch !== this.generation) return;
    this.entries.set(digest, principal);
    let digests = this.digestsByUser.get(principal.user.id);
    if (digests === undefined) {
      digests = new Set();
      this.digestsByUser.set(principal.user.id, digests);
    }
    digests.add(digest);
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  /** Subscribes to local invalidations (to broadcast them to other nodes). */
  onInvalidate(listener: (event: Invalidation) => void): void {
    this.listeners.push(listener);
  }

  /** Applies an invalidation here and tells the listeners. */
  invalidate(event: Invalidation): void {
    this.apply(event);
    for (const listener of this.listeners) listener(event);
  }

  /** Applies an invalidation that arrived from another node, without re-broadcasting it. */
  apply(event: Invalidation): void {
    this.generation++;
    if (this.entries === null) return;
    if (event.kind === "all") {
      this.flush();
    } else if (event.kind === "user") {
      for (const digest of [...(this.digestsByUser.get(event.userId) ?? [])]) this.entries.delete(digest);
    } else {
      for (const [digest, principal] of this.entries.entries()) {
        if (principal.realm.id === event.realmId) this.entries.delete(digest);
      }
    }
  }

  private flush(): void {
    this.generation++;
    this.stats.flushes++;
    this.entries?.clear();
  }

  private forget(userId: number, digest: string): void {
    const digests = this.digestsByUser.get(userId);
    if (digests === undefined) return;
    digests.delete(digest);
    if (digests.size === 0) this.digestsByUser.delete(userId);
  }
}
