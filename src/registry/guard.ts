/**
 * The address guard: a registry name from an untrusted reference (or a redirect, or a token realm)
 * must not make image-check talk to loopback, private, link-local, multicast or cloud metadata
 * addresses (SSRF). The check runs on the address that is actually connected to: the transport
 * resolves through `resolve()` and hands the checked address to the socket through a pinned
 * `lookup`, so a second DNS answer cannot swap it (no time-of-check/time-of-use gap). It runs again
 * on every redirect hop.
 *
 * Every spelling counts: WHATWG URL parsing already folds `2130706433`, `0x7f.1`, `017700000001`
 * and `127.1` into `127.0.0.1` and `[0:0::1]` into `[::1]`; `localhost` and `*.localhost` are
 * loopback by definition (RFC 6761 6.3); IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6
 * addresses are judged by the IPv4 address they carry; anything else is judged after resolution.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { hostEntryCovers, parseIPv4, parseIPv6 } from "../reference/host.js";
import { POLICY_HINT, RegistryError } from "./errors.js";

// The literal parsers live with the rest of "how a host is compared" (src/reference/host.ts), so the
// guard judges exactly the bytes the policy's host lists and the store's keys compare.
export { parseIPv4, parseIPv6 };

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to addresses (injectable so tests never touch DNS). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo), every address, in the order the system prefers. */
export const systemResolver: Resolver = async (host) => {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

interface Range {
  bytes: number[];
  prefix: number;
  kind: string;
  /** For IPv6 ranges that embed an IPv4 address: the byte offset of that address. */
  embedsV4At?: number;
}

function v4(cidr: string, kind: string): Range {
  const [addr, prefix] = cidr.split("/") as [string, string];
  return { bytes: addr.split(".").map(Number), prefix: Number(prefix), kind };
}

function v6(cidr: string, kind: string, embedsV4At?: number): Range {
  const [addr, prefix] = cidr.split("/") as [string, string];
  const range: Range = { bytes: [...parseIPv6(addr)!], prefix: Number(prefix), kind };
  if (embedsV4At !== undefined) range.embedsV4At = embedsV4At;
  return range;
}

/**
 * Refused IPv4 ranges (IANA special-purpose registry, RFC 6890), most specific first so the
 * error names the metadata address rather than "link-local".
 */
const V4_RANGES: Range[] = [
  v4("169.254.169.254/32", "cloud metadata"),
  v4("255.255.255.255/32", "broadcast"),
  v4("0.0.0.0/8", "unspecified"),
  v4("10.0.0.0/8", "private"),
  v4("100.64.0.0/10", "shared (CGNAT)"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.0.0/16", "link-local"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignments"),
  v4("192.0.2.0/24", "documentation"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation"),
  v4("203.0.113.0/24", "documentation"),
  v4("224.0.0.0/4", "multicast"),
  v4("240.0.0.0/4", "reserved"),
];

/** Refused IPv6 ranges; those that carry an IPv4 address defer to it. */
const V6_RANGES: Range[] = [
  v6("::/128", "unspecified"),
  v6("::1/128", "loopback"),
  v6("fd00:ec2::254/128", "cloud metadata"),
  v6("::ffff:0:0/96", "IPv4-mapped", 12),
  v6("::/96", "IPv4-compatible", 12),
  v6("64:ff9b::/96", "NAT64", 12),
  v6("64:ff9b:1::/48", "local NAT64"),
  v6("2002::/16", "6to4", 2),
  v6("100::/64", "discard"),
  v6("2001:db8::/32", "documentation"),
  v6("fc00::/7", "unique local (private)"),
  v6("fe80::/10", "link-local"),
  v6("fec0::/10", "site-local"),
  v6("ff00::/8", "multicast"),
];

function inRange(bytes: ArrayLike<number>, range: Range): boolean {
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((range.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * Why an address must not be connected to (`"loopback"`, `"private"`, `"cloud metadata"`, ...),
 * or undefined when it is a public unicast address.
 */
export function blockedKind(address: string): string | undefined {
  const four = isIP(address) === 4 ? address.split(".").map(Number) : null;
  if (four) return V4_RANGES.find((r) => inRange(four, r))?.kind;
  const six = parseIPv6(address);
  // An address the system calls IPv6 that the parser cannot read is refused, never waved through.
  if (!six && isIP(address) === 6) return "unparsable IPv6";
  if (!six) {
    // Not a canonical literal: try every inet_aton spelling before treating it as a name.
    const loose = parseIPv4(address);
    return loose ? (V4_RANGES.find((r) => inRange(loose, r))?.kind ?? undefined) : undefined;
  }
  for (const range of V6_RANGES) {
    if (!inRange(six, range)) continue;
    if (range.embedsV4At === undefined) return range.kind;
    const embedded = Array.from(six.slice(range.embedsV4At, range.embedsV4At + 4));
    const inner = V4_RANGES.find((r) => inRange(embedded, r))?.kind;
    if (inner) return `${range.kind} ${inner}`;
    return undefined;
  }
  return undefined;
}

/** Host and effective port of a URL, as the guard compares them. */
function hostPort(url: URL): { host: string; port: string } {
  return { host: url.hostname.toLowerCase(), port: url.port || (url.protocol === "https:" ? "443" : "80") };
}

/** A list of `host[:port]` entries: with a port it names that port only, without one every port. */
export class HostList {
  private readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    this.entries = entries;
  }

  /** Whether the URL's host (and port) is listed; hosts compare canonically (src/reference/host.ts). */
  includes(url: URL): boolean {
    const { host, port } = hostPort(url);
    return this.entries.some((e) => hostEntryCovers(e, host, port));
  }
}

/** Options of the guard. */
export interface GuardOptions {
  /** Registry hosts (`host[:port]`) that may resolve to refused addresses (the policy's `registries.allowPrivate`). */
  allowPrivate?: readonly string[];
  resolver?: Resolver;
}

/** Decides, per URL, which address to connect to, or refuses with BLOCKED_ADDRESS. */
export class AddressGuard {
  private readonly allowed: HostList;
  private readonly resolver: Resolver;

  constructor(options: GuardOptions = {}) {
    this.allowed = new HostList(options.allowPrivate ?? []);
    this.resolver = options.resolver ?? systemResolver;
  }

  /** Whether the policy lets this URL's host reach private addresses. */
  allowsPrivate(url: URL): boolean {
    return this.allowed.includes(url);
  }

  /**
   * The address to connect to for `url`, checked. `alsoAllowed` lets a caller extend the policy for
   * one request (a token realm on the same host as an allowed registry).
   * Throws BLOCKED_ADDRESS without resolving anything when the host itself is a refused literal.
   */
  async resolve(url: URL, alsoAllowed = false): Promise<ResolvedAddress> {
    const allowed = alsoAllowed || this.allowed.includes(url);
    const host = url.hostname.toLowerCase();
    const literal = host.startsWith("[") ? host.slice(1, -1) : host;
    const family = isIP(literal);
    if (family) {
      this.refuse(url, literal, allowed);
      return { address: literal, family: family === 6 ? 6 : 4 };
    }
    if (host === "localhost" || host.endsWith(".localhost")) {
      if (!allowed) throw blocked(url, "loopback", host);
    } else this.refuse(url, host, allowed);
    let answers: ResolvedAddress[];
    try {
      answers = await this.resolver(host);
    } catch (err) {
      throw new RegistryError(
        "NETWORK",
        `cannot resolve ${host}: ${(err as { code?: string }).code ?? "lookup failed"}`,
        {
          cause: err,
        },
      );
    }
    if (answers.length === 0) throw new RegistryError("NETWORK", `cannot resolve ${host}: no addresses`);
    // Every answer must pass: otherwise a name with one public and one private record could be
    // steered to the private one.
    for (const a of answers) this.refuse(url, a.address, allowed);
    return answers[0]!;
  }

  private refuse(url: URL, address: string, allowed: boolean): void {
    if (allowed) return;
    const kind = blockedKind(address);
    if (kind) throw blocked(url, kind, address);
  }
}

function blocked(url: URL, kind: string, address: string): RegistryError {
  const { host, port } = hostPort(url);
  const named = `${host}:${port}`;
  const via = address === host ? "" : ` (resolves to ${address})`;
  // A registry on a local address usually speaks plain http too, which is refused next, under
  // another field: name both now rather than one refusal at a time. (Not for cloud metadata: no
  // registry lives there.)
  const insecure = kind.includes("metadata")
    ? ""
    : ` (a local registry usually needs it in registries.allowInsecure too, for plain http)`;
  return new RegistryError(
    "BLOCKED_ADDRESS",
    `refusing to connect to ${named}${via}: ${kind} address; list "${url.host}" in the policy's registries.allowPrivate to allow it${insecure} ${POLICY_HINT}`,
  );
}
