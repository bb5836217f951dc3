// The blob cache behind re-checks that download no config, signature or attestation again:
// bounded by entries and bytes, least recently used out first, and a blob only handed out for the
// size the manifest naming it declares.
import { describe, expect, it } from "vitest";
import { BlobCache } from "../../src/registry/blob-cache.js";

const digestOf = (name: string) => `sha256:${name.padEnd(64, "0")}`;
const limits = { maxEntries: 3, maxBytes: 100, maxEntryBytes: 60 };

describe("BlobCache", () => {
  it("gives back a copy of the bytes it was given, by digest", () => {
    const cache = new BlobCache(limits);
    const bytes = Buffer.alloc(10, "a");
    cache.put(digestOf("a"), bytes);
    bytes.fill(0);
    expect(cache.get(digestOf("a"), 10)).toEqual(Buffer.alloc(10, "a"));
    expect(cache.get(digestOf("b"), 10)).toBeUndefined();
  });

  it("does not hand out a blob for a size other than its own (a manifest that declares another)", () => {
    const cache = new BlobCache(limits);
    cache.put(digestOf("a"), Buffer.alloc(10, "a"));
    expect(cache.get(digestOf("a"), 11)).toBeUndefined();
    expect(cache.get(digestOf("a"), 9)).toBeUndefined();
  });

  it.each([
    ["more entries than allowed: the least recently used goes", ["a", "b", "c", "d"], ["b", "c", "d"]],
    ["an entry used again stays", ["a", "b", "c", "get a", "d"], ["a", "c", "d"]],
  ])("when %s", (_when, steps, kept) => {
    const cache = new BlobCache(limits);
    for (const step of steps)
      if (step.startsWith("get ")) cache.get(digestOf(step.slice(4)), 10);
      else cache.put(digestOf(step), Buffer.alloc(10, step));
    const held = ["a", "b", "c", "d"].filter((n) => cache.get(digestOf(n), 10));
    expect(held).toEqual(kept);
  });

  it("keeps its bytes within the bound, dropping the oldest", () => {
    const cache = new BlobCache(limits);
    cache.put(digestOf("a"), Buffer.alloc(50));
    cache.put(digestOf("b"), Buffer.alloc(40));
    cache.put(digestOf("c"), Buffer.alloc(30));
    expect(cache.size).toEqual({ entries: 2, bytes: 70 });
    expect(cache.get(digestOf("a"), 50)).toBeUndefined();
  });

  it("does not keep a blob over the per-entry bound", () => {
    const cache = new BlobCache(limits);
    cache.put(digestOf("a"), Buffer.alloc(61));
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
  });

  it("counts a blob put twice once", () => {
    const cache = new BlobCache(limits);
    cache.put(digestOf("a"), Buffer.alloc(10));
    cache.put(digestOf("a"), Buffer.alloc(10));
    expect(cache.size).toEqual({ entries: 1, bytes: 10 });
  });
});
