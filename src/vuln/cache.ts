/**
 * A per-process cache of vulnerability data already read for an image, keyed by (manifest digest,
 * source kind, data version), so a second check of the same image (watch, a repeated Slack
 * request) neither parses the source again nor asks the scanner. The data version names exactly
 * what the entry was made from (the SBOM blob's digest, who signed it, the scanner URL), so a new
 * SBOM or signer is a new key. Scanner answers age, so entries also expire: OSV changes by the
 * hour, and a re-check within minutes need not ask again. Bounded by entries and by bytes (least
 * recently used dropped first). Pure: the clock is passed in.
 */
import type { VulnSourceKind } from "./types.js";

/** Defaults, each with why. */
export const VULN_CACHE_DEFAULTS = {
  /** Distinct images × sources kept: a serve process watches hundreds of approved digests, not thousands. */
  entries: 512,
  /** Bytes kept (estimated as the JSON size of each entry): 500-package SBOM matches take well under 1 MiB. */
  bytes: 64 * 1024 * 1024,
  /** As long as the OSV client reuses a querybatch answer: the same freshness for the same data. */
  maxAgeMs: 10 * 60 * 1000,
};

/** The cache key of one source's data for one image. */
export function vulnCacheKey(manifestDigest: string, source: VulnSourceKind, version: string): string {
  return `${manifestDigest}\u0000${source}\u0000${version}`;
}

interface Entry<V> {
  value: V;
  bytes: number;
  at: number;
}

/** The cache. One per process (CheckDeps.vulnCache). */
export class VulnCache<V = unknown> {
  private readonly map = new Map<string, Entry<V>>();
  private bytes = 0;
  /** Look-ups answered from the cache, and entries stored (for tests and the bench). */
  readonly stats = { hits: 0, stores: 0 };

  constructor(
    private readonly now: () => number,
    private readonly limits: typeof VULN_CACHE_DEFAULTS = VULN_CACHE_DEFAULTS,
  ) {}

  /** The value for `key` when present and fresh; it becomes the most recently used. */
  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (!entry) return undefined;
    this.map.delete(key);
    if (this.now() - entry.at >= this.limits.maxAgeMs) {
      this.bytes -= entry.bytes;
      return undefined;
    }
    this.map.set(key, entry);
    this.stats.hits++;
    return entry.value;
  }

  /** Store `value`, `bytes` large (an entry larger than the whole budget is not kept). */
  set(key: string, value: V, bytes: number): void {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.bytes -= old.bytes;
    }
    if (bytes > this.limits.bytes) return;
    this.map.set(key, { value, bytes, at: this.now() });
    this.bytes += bytes;
    this.stats.stores++;
    for (const [k, e] of this.map) {
      if (this.map.size <= this.limits.entries && this.bytes <= this.limits.bytes) break;
      this.map.delete(k);
      this.bytes -= e.bytes;
    }
  }

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }
}
