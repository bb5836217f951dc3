import { describe, expect, it } from "vitest";
import { HostList } from "../../src/registry/guard.js";

describe("the policy's host lists (registries.allowPrivate, allowInsecure)", () => {
  describe("when an entry spells the host differently from the URL", () => {
    const cases: [string, string][] = [
      ["127.1:5000", "http://127.0.0.1:5000/v2/"],
      ["0x7f.1:5000", "https://2130706433:5000/v2/"],
      ["127.0.0.1:5000", "http://[::ffff:127.0.0.1]:5000/v2/"],
      ["[0:0:0:0:0:0:0:1]:5000", "http://[::1]:5000/v2/"],
      ["Registry.Local:443", "https://registry.local/v2/"],
      ["registry.local:80", "http://REGISTRY.LOCAL/v2/"],
    ];
    for (const [entry, url] of cases)
      it(`lists ${url} under ${entry}`, () => {
        expect(new HostList([entry]).includes(new URL(url))).toBe(true);
      });
  });

  it("keeps another port or address out", () => {
    const list = new HostList(["127.0.0.1:5000"]);
    expect(list.includes(new URL("http://127.0.0.1:5001/"))).toBe(false);
    expect(list.includes(new URL("http://127.0.0.2:5000/"))).toBe(false);
    expect(new HostList(["registry.local:443"]).includes(new URL("http://registry.local/"))).toBe(false);
  });
});
