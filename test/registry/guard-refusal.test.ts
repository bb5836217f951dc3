import { describe, expect, it } from "vitest";
import { AddressGuard } from "../../src/registry/guard.js";
import type { RegistryError } from "../../src/registry/index.js";

/** The error the guard throws for `url`, resolving names from `table` (nothing leaves the process). */
async function refusal(url: string, table: Record<string, string[]> = {}): Promise<RegistryError> {
  const guard = new AddressGuard({
    resolver: async (host) => (table[host] ?? []).map((address) => ({ address, family: 4 as const })),
  });
  try {
    await guard.resolve(new URL(url));
  } catch (err) {
    return err as RegistryError;
  }
  throw new Error(`the guard let ${url} through`);
}

describe("the address guard's refusal", () => {
  describe("when a local registry is named by a loopback address", () => {
    it("names both fields a local registry usually needs, on one line", async () => {
      const err = await refusal("https://127.0.0.1:5000/v2/");
      expect(err.code).toBe("BLOCKED_ADDRESS");
      expect(err.message).toContain('"127.0.0.1:5000" in the policy\'s registries.allowPrivate');
      expect(err.message).toContain("registries.allowInsecure");
      expect(err.message).not.toContain("\n");
    });
  });

  describe("when a registry name resolves to a private address", () => {
    it("names both fields", async () => {
      const err = await refusal("https://registry.corp.test/v2/", { "registry.corp.test": ["10.0.0.7"] });
      expect(err.code).toBe("BLOCKED_ADDRESS");
      expect(err.message).toContain("registries.allowPrivate");
      expect(err.message).toContain("registries.allowInsecure");
    });
  });

  describe("when the address is the cloud metadata service", () => {
    it("does not suggest plain http for it", async () => {
      const err = await refusal("https://169.254.169.254/v2/");
      expect(err.code).toBe("BLOCKED_ADDRESS");
      expect(err.message).not.toContain("registries.allowInsecure");
    });
  });
});
