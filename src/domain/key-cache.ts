/**
 * The in-process cache in front of API-key lookups: key digest → the user and organization it
 * authenticates. Any change to a user or an organization must invalidate it; `src/domain`
 * operations do so after they commit, and a broadcaster repeats it on other nodes.
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

export class KeyCache {
  private readonly entries: LRUCache<string, Principal> | null;
  private readonly digestsByUser = new Map<number, Set<string>>();
  private readonly listeners: ((event: Invalidation) => void)[] = [];

  constructor(maxEntries: number) {
    this.entries =
      maxEntries > 0
        ? new LRUCache<string, Principal>({
            max: maxEntries,
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

  get(digest: string): Principal | undefined {
    if (this.entries === null) return undefined;
    if (this.staleCheck?.()) {
      this.generation++;
      this.entries.clear();
    }
    return this.entries.get(digest);
  }

  /** Caches `principal`; with `epoch` (from before the lookup), only if nothing was invalidated since. */
  set(digest: string, principal: Principal, epoch?: number): void {
    if (this.entries === null) return;
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
      this.entries.clear();
    } else if (event.kind === "user") {
      for (const digest of [...(this.digestsByUser.get(event.userId) ?? [])]) this.entries.delete(digest);
    } else {
      for (const [digest, principal] of this.entries.entries()) {
        if (principal.realm.id === event.realmId) this.entries.delete(digest);
      }
    }
  }

  private forget(userId: number, digest: string): void {
    const digests = this.digestsByUser.get(userId);
    if (digests === undefined) return;
    digests.delete(digest);
    if (digests.size === 0) this.digestsByUser.delete(userId);
  }
}
