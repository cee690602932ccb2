/**
 * The organization a request is for, from its Host header (§1 step 3): `<sub>.<root>` selects
 * `<sub>`, configured realm hosts map to their subdomain, and anything else (including the
 * root-subdomain aliases such as `www`) is the root organization "".
 */

export interface HostRules {
  externalHost: string;
  rootSubdomainAliases: string[];
  realmHosts: Record<string, string>;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const MEMO_LIMIT = 1024;

/** Maps Host headers to subdomains, memoizing the answer for the hosts it has seen. */
export class HostResolver {
  private readonly suffix: RegExp;
  private readonly realmHosts: [string, RegExp][];
  private readonly aliases: Set<string>;
  private readonly memo = new Map<string, string>();

  constructor(rules: HostRules) {
    this.suffix = new RegExp(`\\.${escapeRegExp(rules.externalHost.toLowerCase())}(:\\d+)?$`);
    this.realmHosts = Object.entries(rules.realmHosts).map(([sub, host]) => [
      sub,
      new RegExp(`^${escapeRegExp(host.toLowerCase())}(:\\d+)?$`),
    ]);
    this.aliases = new Set(rules.rootSubdomainAliases);
  }

  /** The subdomain for a Host header value ("" for the root organization). */
  subdomainOf(hostHeader: string | undefined): string {
    const host = (hostHeader ?? "").toLowerCase();
    const known = this.memo.get(host);
    if (known !== undefined) return known;
    const subdomain = this.compute(host);
    // Hosts are attacker-chosen: keep the memo bounded.
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(host, subdomain);
    return subdomain;
  }

  private compute(host: string): string {
    const m = this.suffix.exec(host);
    if (m) {
      const sub = host.slice(0, m.index);
      return this.aliases.has(sub) ? "" : sub;
    }
    for (const [sub, pattern] of this.realmHosts) if (pattern.test(host)) return sub;
    return "";
  }
}

/**
 * The URL of an organization: `<scheme>://[<sub>.]<root>`, or the host configured for it in
 * `realmHosts` (Zulip's `get_host_for_subdomain`: the root is always the external host).
 */
export function realmUrl(
  scheme: string,
  externalHost: string,
  subdomain: string,
  realmHosts: Record<string, string> = {},
): string {
  if (subdomain === "") return `${scheme}://${externalHost}`;
  const host = Object.hasOwn(realmHosts, subdomain) ? realmHosts[subdomain] : undefined;
  return `${scheme}://${host ?? `${subdomain}.${externalHost}`}`;
}
