/**
 * Where organizations live. The one module that answers every question about an organization's
 * address: which organization a Host header selects, the organization's host and URL, the
 * domain of its bots' emails. Everything that reads or writes an organization's address asks
 * here, so that `LATCHKEY_REALM_HOSTS` and the root aliases hold everywhere alike.
 *
 * The rules (docs/zulip-rules.md, "Organizations and hosts"): `<sub>.<root>` selects `<sub>`;
 * a host configured in `realmHosts` selects its subdomain; anything else, including the
 * root-subdomain aliases such as `www.<root>`, is the root organization "". An organization's
 * URL is `<scheme>://<sub>.<root>`, or its configured host, and the root organization's is
 * always the root host (Zulip's `Realm.host_for_subdomain` and `Realm.url`, `zerver/models/realms.py`).
 */

export interface SiteSettings {
  externalScheme: "http" | "https";
  /** The root host, `host[:port]`, lower-case. */
  externalHost: string;
  /** Subdomains that mean the root organization (`www`). */
  rootSubdomainAliases: string[];
  /** Organizations served at a host of their own: subdomain → `host[:port]`. */
  realmHosts: Record<string, string>;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const MEMO_LIMIT = 1024;
/** 253 characters of DNS name, a colon and a port. */
const MAX_HOST_LENGTH = 259;

export class Site {
  readonly scheme: "http" | "https";
  /** True when the site is served over HTTPS, so cookies are `Secure`. */
  readonly secure: boolean;
  private readonly externalHost: string;
  private readonly suffix: RegExp;
  private readonly hostPatterns: [string, RegExp][];
  private readonly realmHosts: Map<string, string>;
  private readonly aliases: Set<string>;
  private readonly memo = new Map<string, string>();

  constructor(settings: SiteSettings) {
    this.scheme = settings.externalScheme;
    this.secure = settings.externalScheme === "https";
    this.externalHost = settings.externalHost.toLowerCase();
    this.suffix = new RegExp(`\\.${escapeRegExp(this.externalHost)}(:\\d+)?$`);
    this.realmHosts = new Map(Object.entries(settings.realmHosts).map(([sub, host]) => [sub, host.toLowerCase()]));
    this.hostPatterns = [...this.realmHosts].map(([sub, host]) => [sub, new RegExp(`^${escapeRegExp(host)}(:\\d+)?$`)]);
    this.aliases = new Set(settings.rootSubdomainAliases);
  }

  /** The subdomain a Host header value selects ("" for the root organization). */
  subdomainOf(hostHeader: string | undefined): string {
    const host = (hostHeader ?? "").toLowerCase();
    const known = this.memo.get(host);
    if (known !== undefined) return known;
    const subdomain = this.computeSubdomain(host);
    // Hosts are attacker-chosen: the memo keeps at most MEMO_LIMIT of them, none longer than a
    // DNS name with a port can be.
    if (host.length > MAX_HOST_LENGTH) return subdomain;
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(host, subdomain);
    return subdomain;
  }

  /** The host (`host[:port]`) an organization is served at. */
  hostOf(subdomain: string): string {
    if (subdomain === "") return this.externalHost;
    return this.realmHosts.get(subdomain) ?? `${subdomain}.${this.externalHost}`;
  }

  /** The organization's URL, `<scheme>://<host>`, without a trailing slash (Zulip's `realm.url`). */
  urlOf(subdomain: string): string {
    return `${this.scheme}://${this.hostOf(subdomain)}`;
  }

  /** The root organization's URL. */
  get rootUrl(): string {
    return this.urlOf("");
  }

  /** The domain of the organization's bot emails: its host without a port. */
  botDomainOf(subdomain: string): string {
    return this.hostOf(subdomain).replace(/:\d+$/, "");
  }

  private computeSubdomain(host: string): string {
    const m = this.suffix.exec(host);
    if (m) {
      const sub = host.slice(0, m.index);
      return this.aliases.has(sub) ? "" : sub;
    }
    for (const [sub, pattern] of this.hostPatterns) if (pattern.test(host)) return sub;
    return "";
  }
}
