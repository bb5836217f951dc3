/**
 * The manifests a process fetched, by digest, so a re-check can ask the registry whether a tag
 * still names the one it holds (`If-None-Match`) instead of downloading it again.
 *
 * Why bytes, and why only in memory: a 304 says "the tag still names that digest", nothing more.
 * What the check reads from the manifest (its config and layer descriptors, annotations, an
 * index's platform entries) must still come from bytes that hash to that digest, so the cache
 * keeps the bytes themselves, and they are hashed and parsed again on each use as if just
 * downloaded (RegistryClient.getManifest). The store keeps reports, not manifests: re-deriving a
 * manifest from a report could not be verified, so it is not done. A process that does not hold
 * the manifest (the first re-check after a restart, a cron `watch --once`) simply asks without the
 * header, which costs the requests of one check, never more.
 *
 * Keys are digests alone: content is identified by its digest whatever repository served it, and
 * an entry is only used after the registry confirmed, for the repository asked about, that the tag
 * names that digest.
 */
import type { FetchedManifest, KnownManifest } from "./client.js";

/** Bounds, each with why. */
export const MANIFEST_CACHE_DEFAULTS = {
  /**
   * Entries kept: a serve process re-checks every approved digest once per interval; a few
   * thousand covers the approvals of a large organisation, and beyond it the least recently used
   * go (a miss costs one body, not a request).
   */
  maxEntries: 4096,
  /**
   * Bytes kept in all: image manifests are 0.5-4 KiB and indexes up to some tens of KiB, so 16 MiB
   * holds the entries above many times over while one hostile 4 MiB manifest cannot crowd them out
   * for long (it is evicted first once it is the oldest).
   */
  maxBytes: 16 * 1024 * 1024,
  /** A manifest larger than this is not kept: a quarter of the whole, so a few cannot fill it. */
  maxEntryBytes: 4 * 1024 * 1024,
};

/** A bounded, least-recently-used cache of verified manifests by digest. */
export class ManifestCache {
  private readonly entries = new Map<string, KnownManifest>();
  private bytes = 0;

  constructor(private readonly limits: typeof MANIFEST_CACHE_DEFAULTS = MANIFEST_CACHE_DEFAULTS) {}

  /** How many manifests and bytes are held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /** The manifest held for `digest`, marked as just used; undefined when none is. */
  get(digest: string): KnownManifest | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry;
  }

  /** Keep a manifest just fetched and verified (a 304's answer is already held). */
  put(manifest: FetchedManifest): void {
    if (manifest.notModified) return;
    const size = manifest.bytes.length;
    if (size > this.limits.maxEntryBytes || size > this.limits.maxBytes) return;
    const old = this.entries.get(manifest.digest);
    if (old) {
      this.entries.delete(manifest.digest);
      this.bytes -= old.bytes.length;
    }
    // A copy of its own: the fetched buffer may be a slice of a shared pool (kept alive whole by a
    // slice) and stays the caller's to use.
    const bytes = Buffer.allocUnsafeSlow(size);
    manifest.bytes.copy(bytes);
    this.entries.set(manifest.digest, { digest: manifest.digest, mediaType: manifest.mediaType, bytes });
    this.bytes += size;
    for (const [digest, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.entries.delete(digest);
      this.bytes -= entry.bytes.length;
    }
  }
}
