/**
 * How registry hosts are compared: the one place that says when two spellings name the same
 * registry. Pure: no I/O, no name resolution (a name is compared as a name; only literals fold).
 *
 * Two `host[:port]` texts name the same registry when their canonical forms are equal:
 * - case: host names are case-insensitive (RFC 4343); a trailing root dot is dropped;
 * - IPv4 literals in every inet_aton spelling (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`) are the
 *   dotted quad they parse to, as WHATWG URL parsing and the socket read them;
 * - IPv6 literals are written as RFC 5952 says (`[0:0:0:0:0:0:0:1]` is `[::1]`), and an IPv4-mapped
 *   one (`[::ffff:127.0.0.1]`, RFC 4291 2.5.5.2) is the IPv4 address it carries;
 * - the default port of the scheme is no port (`:443` for https, the scheme of the distribution
 *   API; `:80` for plain http);
 * - Docker Hub's names (`index.docker.io`, `registry-1.docker.io`, `registry.hub.docker.com`) are
 *   `docker.io`.
 *
 * Callers: the reference parser (Hub aliases), the store's keys (`canonicalRepository`), the
 * policy's `registries.trusted` globs and the registry client's allowPrivate/allowInsecure lists,
 * notary server matching, and the address guard (which judges the same parsed bytes).
 */

/** Docker Hub's canonical registry name. */
export const DOCKER_HUB = "docker.io";

/** Names Docker Hub is also known by; all compare (and normalize) as `docker.io`. */
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

/** The schemes a registry is reached over; https unless a policy allows plain http. */
export type RegistryScheme = "https" | "http";

const DEFAULT_PORT: Record<RegistryScheme, string> = { https: "443", http: "80" };

/**
 * Parse IPv4 the way inet_aton does (1 to 4 parts; each decimal, octal with a leading 0, or hex
 * with 0x), so `127.1`, `0x7f.1`, `2130706433` and `017700000001` are all 127.0.0.1.
 * Returns the 4 bytes, or null when it is not an IPv4 address in any spelling.
 */
export function parseIPv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length > 4 || parts.some((p) => p === "")) return null;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = Number.parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return null;
    values.push(value);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return null;
  const bytes = [...values];
  for (let i = 4 - values.length - 1; i >= 0; i--) bytes.push(Math.floor(last / 2 ** (8 * i)) % 256);
  return bytes;
}

/** A strict dotted quad (as the tail of an IPv6 address allows): four decimal parts 0-255, no leading zeros. */
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_WORD = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parse an IPv6 address (RFC 4291 2.2: hex words, one `::`, a trailing dotted IPv4), with optional
 * brackets and zone, into 16 bytes; null when it is not one.
 */
export function parseIPv6(text: string): Uint8Array | null {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  // The longest spelling is 8 words of 4 digits and 7 colons, or 6 words with a dotted quad (45).
  if (s.length < 2 || s.length > 45) return null;
  const gap = s.indexOf("::");
  if (gap !== -1 && s.indexOf("::", gap + 1) !== -1) return null;
  const toWords = (chunk: string, v4Tail: boolean): number[] | null => {
    if (chunk === "") return [];
    const pieces = chunk.split(":");
    const out: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (v4Tail && i === pieces.length - 1 && DOTTED_QUAD.test(piece)) {
        const b = piece.split(".").map(Number) as [number, number, number, number];
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else if (HEX_WORD.test(piece)) out.push(Number.parseInt(piece, 16));
      else return null;
    }
    return out;
  };
  const head = toWords(gap === -1 ? s : s.slice(0, gap), gap === -1);
  const tail = gap === -1 ? [] : toWords(s.slice(gap + 2), true);
  if (!head || !tail) return null;
  // Without `::` exactly 8 words; with it, `::` stands for at least one zero word.
  if (gap === -1 ? head.length !== 8 : head.length + tail.length > 7) return null;
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** Whether 16 bytes are an IPv4-mapped IPv6 address (::ffff:0:0/96). */
function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** RFC 5952 text of an IPv6 address: lowercase, no leading zeros, the longest run of zero words as `::`. */
function formatIPv6(bytes: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best.at === -1) return hex(words);
  return `${hex(words.slice(0, best.at))}::${hex(words.slice(best.at + best.length))}`;
}

/** `host` and the port written after it (digits, leading zeros dropped), or null when `text` is not `host[:port]`. */
export function splitHostPort(text: string): { host: string; port?: string } | null {
  let host = text;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end === -1) return null;
    host = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return null;
      port = rest.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(":");
    // More than one colon without brackets: a bare IPv6 address, no port.
    if (colon !== -1 && text.indexOf(":") === colon) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    }
  }
  if (host === "") return null;
  if (port === undefined) return { host };
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return null;
  return { host, port: String(Number(port)) };
}

/**
 * The canonical host name (no port): lowercase; an IP literal in its one spelling (IPv4 dotted
 * quad, IPv6 bracketed as RFC 5952 writes it, IPv4-mapped IPv6 as the IPv4 address); a Docker Hub
 * alias as `docker.io`. Anything else is a name and stays one.
 */
export function canonicalHostname(host: string): string {
  let h = host.toLowerCase();
  if (h.length > 1 && h.endsWith(".")) h = h.slice(0, -1);
  if (h.startsWith("[") || h.includes(":")) {
    const six = parseIPv6(h);
    if (!six) return h;
    return isV4Mapped(six) ? Array.from(six.slice(12)).join(".") : `[${formatIPv6(six)}]`;
  }
  const four = parseIPv4(h);
  if (four) return four.join(".");
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/**
 * The canonical `host[:port]` of a registry reached over `scheme` (https by default, as the
 * distribution API is): `canonicalHostname`, and no port when it is the scheme's default. Text that
 * is not `host[:port]` is only lowercased (it names no registry another spelling could match).
 */
export function canonicalHost(hostPort: string, scheme: RegistryScheme = "https"): string {
  const parts = splitHostPort(hostPort);
  if (!parts) return hostPort.toLowerCase();
  const host = canonicalHostname(parts.host);
  return parts.port === undefined || parts.port === DEFAULT_PORT[scheme] ? host : `${host}:${parts.port}`;
}

/** Whether two `host[:port]` texts name the same registry over `scheme`. */
export function sameHost(a: string, b: string, scheme: RegistryScheme = "https"): boolean {
  return canonicalHost(a, scheme) === canonicalHost(b, scheme);
}

/**
 * `registry/repository` with the registry in canonical form: the key the store files requests,
 * decisions, reports and tag observations under, so every spelling of a name finds the same rows.
 */
export function canonicalRepository(name: string): string {
  const slash = name.indexOf("/");
  if (slash <= 0) return name;
  return `${canonicalHost(name.slice(0, slash))}${name.slice(slash)}`;
}

/**
 * Whether a policy host entry (`host[:port]`, e.g. from `registries.allowPrivate`) covers a
 * connection to `host` on `port`: the hosts compare canonically; an entry with a port names that
 * port only, one without names every port.
 */
export function hostEntryCovers(entry: string, host: string, port: string): boolean {
  const parts = splitHostPort(entry.trim());
  if (!parts) return false;
  if (canonicalHostname(parts.host) !== canonicalHostname(host)) return false;
  return parts.port === undefined || parts.port === String(Number(port));
}
