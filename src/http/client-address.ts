/**
 * Who a request comes from, for per-address limits: which proxies may say so in
 * `X-Forwarded-For` (`LATCHKEY_TRUSTED_PROXIES`, handed to Fastify's `trustProxy`), and the key
 * an address is counted under.
 */
import { isIP, isIPv4 } from "node:net";

/** Names proxy-addr (Fastify's `trustProxy`) accepts for well-known ranges. */
const RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/**
 * Parses a comma-separated list of proxy addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and
 * the names loopback, linklocal and uniquelocal. Empty means no proxy is trusted.
 */
export function parseTrustedProxies(text: string): string[] {
  const entries = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const entry of entries) {
    if (RANGE_NAMES.has(entry)) continue;
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw new Error(`expected IP addresses or CIDR ranges separated by commas, got ${JSON.stringify(entry)}`);
    }
  }
  return entries;
}

/** The eight 16-bit groups of an IPv6 address, or null when it is not one. */
function ipv6Groups(ip: string): number[] | null {
  const address = ip.split("%", 1)[0] as string;
  if (isIP(address) !== 6) return null;
  const [head = "", tail] = address.split("::", 2) as [string, string | undefined];
  const parse = (part: string): number[] => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const piece of part.split(":")) {
      if (isIPv4(piece)) {
        const [a, b, c, d] = piece.split(".").map(Number) as [number, number, number, number];
        groups.push((a << 8) | b, (c << 8) | d);
      } else {
        groups.push(Number.parseInt(piece, 16));
      }
    }
    return groups;
  };
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = 8 - left.length - right.length;
  return [...left, ...new Array<number>(Math.max(0, zeros)).fill(0), ...right];
}

/**
 * The key a client address is counted under. IPv4 addresses (and IPv4-mapped IPv6 ones) count
 * alone; IPv6 addresses count by their /64, since one host usually holds a whole /64 and could
 * otherwise take a fresh budget per address.
 */
export function addressRateKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (groups === null) return ip;
  const isMapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (isMapped) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}
