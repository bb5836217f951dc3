/**
 * The small blobs a process fetched (image configs, signature and attestation blobs), by digest,
 * so a re-check of the same image does not download them again.
 *
 * Why this is safe without asking the registry: a blob is named by its digest, and only bytes that
 * already hashed to that digest when they were fetched (RegistryClient.getBlob) are kept, so
 * whatever repository's manifest names the digest, these are its bytes. What names the blobs (the
 * image manifest, the `.sig`/`.att` tags, the referrers) is still asked of the registry on every
 * check, so a new signature or attestation is seen at once and a removed one is gone at once; a
 * blob is only taken from here when a manifest fetched in this check names it with the same size.
 * The per-gather budget is charged for a kept artifact blob as for a fetched one, so what one
 * check reads stays bounded the same way.
 *
 * Only in memory, like the ManifestCache: a restart starts cold, which costs the requests of one
 * check, never more.
 */

/** Bounds, each with why. */
export const BLOB_CACHE_DEFAULTS = {
  /**
   * Entries kept: a serve process re-checks every approved digest once per interval, each with a
   * config and a few signature or attestation blobs; a few thousand images' worth fits, and
   * beyond it the least recently used go (a miss costs one request, as before the cache).
   */
  maxEntries: 16_384,
  /**
   * Bytes kept in all: configs and signatures are 1-20 KiB, vulnerability reports and SBOMs tens
   * to hundreds of KiB; 32 MiB holds the entries above many times over.
   */
  maxBytes: 32 * 1024 * 1024,
  /**
   * A blob larger than this is not kept: 2 MiB covers the configs, signatures and vulnerability
   * reports of real images, while a few large SBOMs (up to the 8 MiB a gather reads of one blob)
   * would push out thousands of small entries; they are fetched again instead.
   */
  maxEntryBytes: 2 * 1024 * 1024,
};

/** A bounded, least-recently-used cache of verified blobs by digest. */
export class BlobCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly limits: typeof BLOB_CACHE_DEFAULTS = BLOB_CACHE_DEFAULTS) {}

  /** How many blobs and bytes are held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /**
   * The blob held for `digest` when it is `size` bytes long (what the manifest naming it declares),
   * marked as just used; undefined otherwise. The bytes are shared: read them, never write them.
   */
  get(digest: string, size: number): Buffer | undefined {
    const entry = this.entries.get(digest);
    if (!entry || entry.length !== size) return undefined;
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry;
  }

  /** Keep a blob just fetched whose bytes were verified against `digest`. */
  put(digest: string, verified: Buffer): void {
    const size = verified.length;
    if (size > this.limits.maxEntryBytes || size > this.limits.maxBytes) return;
    const old = this.entries.get(digest);
    if (old) {
      this.entries.delete(digest);
      this.bytes -= old.length;
    }
    // A copy of its own: the fetched buffer may be a slice of a shared pool (kept alive whole by a
    // slice) and stays the caller's to use.
    const bytes = Buffer.allocUnsafeSlow(size);
    verified.copy(bytes);
    this.entries.set(digest, bytes);
    this.bytes += size;
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= entry.length;
    }
  }
}
