import { describe, expect, it } from "vitest";
import { VULN_CACHE_DEFAULTS, VulnCache, vulnCacheKey } from "../../src/vuln/cache.js";

describe("VulnCache", () => {
  const limits = { entries: 2, bytes: 100, maxAgeMs: 1000 };

  it("keys one source's data per manifest digest and data version", () => {
    expect(vulnCacheKey("sha256:a", "sbom", "v1")).not.toBe(vulnCacheKey("sha256:a", "sbom", "v2"));
    expect(vulnCacheKey("sha256:a", "sbom", "v1")).not.toBe(vulnCacheKey("sha256:b", "sbom", "v1"));
    expect(vulnCacheKey("sha256:a", "sbom", "v1")).not.toBe(vulnCacheKey("sha256:a", "attestation", "v1"));
  });

  it("when more entries are stored than allowed, drops the least recently used", () => {
    const cache = new VulnCache<string>(() => 0, limits);
    cache.set("a", "A", 1);
    cache.set("b", "B", 1);
    expect(cache.get("a")).toBe("A");
    cache.set("c", "C", 1);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe("A");
    expect(cache.get("c")).toBe("C");
  });

  it("when the bytes would exceed the budget, drops old entries, and never keeps one larger than the budget", () => {
    const cache = new VulnCache<string>(() => 0, limits);
    cache.set("a", "A", 60);
    cache.set("b", "B", 60);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBe("B");
    cache.set("huge", "H", 101);
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it("when an entry is older than maxAgeMs, it is gone", () => {
    let now = 0;
    const cache = new VulnCache<string>(() => now, limits);
    cache.set("a", "A", 1);
    now = 999;
    expect(cache.get("a")).toBe("A");
    now = 1000;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps as long as the OSV client reuses a batch answer by default", async () => {
    const { OSV_LIMITS } = await import("../../src/osv/client.js");
    expect(VULN_CACHE_DEFAULTS.maxAgeMs).toBe(OSV_LIMITS.batchCacheMs);
  });
});
