// The manifest cache behind conditional re-fetches: bounded by entries and bytes, least recently
// used out first, and a 304's answer (already held) never stored again.
import { describe, expect, it } from "vitest";
import type { FetchedManifest } from "../../src/registry/client.js";
import { ManifestCache } from "../../src/registry/manifest-cache.js";

function manifest(name: string, size = 10): FetchedManifest {
  return {
    digest: `sha256:${name.padEnd(64, "0")}`,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    bytes: Buffer.alloc(size, name),
    json: {},
  };
}

const limits = { maxEntries: 3, maxBytes: 100, maxEntryBytes: 60 };

describe("ManifestCache", () => {
  it("gives back a copy of the bytes it was given, by digest", () => {
    const cache = new ManifestCache(limits);
    const m = manifest("a");
    cache.put(m);
    m.bytes.fill(0);
    expect(cache.get(m.digest)).toEqual({
      digest: m.digest,
      mediaType: m.mediaType,
      bytes: Buffer.alloc(10, "a"),
    });
    expect(cache.get(manifest("b").digest)).toBeUndefined();
  });

  it.each([
    ["more entries than allowed: the least recently used goes", ["a", "b", "c", "d"], ["b", "c", "d"]],
    ["an entry used again stays", ["a", "b", "c", "get a", "d"], ["a", "c", "d"]],
  ])("when %s", (_when, steps, kept) => {
    const cache = new ManifestCache(limits);
    for (const step of steps)
      if (step.startsWith("get ")) cache.get(manifest(step.slice(4)).digest);
      else cache.put(manifest(step));
    const held = ["a", "b", "c", "d"].filter((n) => cache.get(manifest(n).digest));
    expect(held).toEqual(kept);
  });

  it("keeps its bytes within the bound, dropping the oldest", () => {
    const cache = new ManifestCache(limits);
    cache.put(manifest("a", 50));
    cache.put(manifest("b", 40));
    cache.put(manifest("c", 30));
    expect(cache.size).toEqual({ entries: 2, bytes: 70 });
    expect(cache.get(manifest("a").digest)).toBeUndefined();
  });

  it("does not keep a manifest over the per-entry bound, nor a 304's answer", () => {
    const cache = new ManifestCache(limits);
    cache.put(manifest("a", 61));
    cache.put({ ...manifest("b"), notModified: true });
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
  });

  it("counts a manifest put twice once", () => {
    const cache = new ManifestCache(limits);
    cache.put(manifest("a"));
    cache.put(manifest("a"));
    expect(cache.size).toEqual({ entries: 1, bytes: 10 });
  });
});
