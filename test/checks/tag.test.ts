import { describe, expect, it } from "vitest";
import { isDescriptiveTag, pinnedReference, tagChecks } from "../../src/checks/tag.js";
import type { CheckContext, Finding } from "../../src/checks/types.js";
import type { ImageReference } from "../../src/reference/types.js";
import { cleanContext, cleanFacts, DIGEST } from "../support/facts.js";

const OTHER = `sha256:${"9f".repeat(32)}`;

function run(ref: Partial<ImageReference>, ctx: Partial<CheckContext> = {}, factsDigest = DIGEST): Finding[] {
  const facts = cleanFacts();
  facts.reference = { registry: "docker.io", repository: "library/python", original: "python", ...ref };
  facts.digest = factsDigest;
  return tagChecks(facts, { ...cleanContext(), lastKnownDigest: null, ...ctx });
}
const ids = (fs: Finding[]) => fs.map((f) => f.id).sort();

describe("tag checks", () => {
  describe("isDescriptiveTag", () => {
    it.each(["3.12-alpine3.20", "1.27.3-bookworm", "v2", "2024.05", "3", "8.0.36-debian", "sha-3f2a1b9"])(
      "accepts %s",
      (tag) => {
        expect(isDescriptiveTag(tag)).toBe(true);
      },
    );
    it.each([
      "stable",
      "alpine",
      "lts",
      "bookworm",
      "edge",
      "mainline",
      "stable-amd64",
      "nightly",
      "arm64v8",
    ])("rejects %s", (tag) => {
      expect(isDescriptiveTag(tag)).toBe(false);
    });
  });

  describe("tag.latest", () => {
    it("fires for a bare name", () => {
      expect(ids(run({}))).toEqual(["tag.latest", "tag.not-pinned"]);
    });
    it("fires for :latest", () => {
      expect(ids(run({ tag: "latest" }))).toEqual(["tag.latest", "tag.not-pinned"]);
    });
    it("does not fire for a version tag or a digest", () => {
      expect(ids(run({ tag: "3.12-alpine3.20", digest: DIGEST }))).toEqual([]);
      expect(ids(run({ digest: DIGEST }))).toEqual([]);
    });
  });

  describe("tag.not-descriptive", () => {
    it.each(["stable", "alpine", "lts", "bookworm", "edge", "mainline"])("fires for %s", (tag) => {
      expect(ids(run({ tag, digest: DIGEST }))).toEqual(["tag.not-descriptive"]);
    });
    it.each(["3.12-alpine3.20", "1.27.3-bookworm", "v2", "2024.05"])("does not fire for %s", (tag) => {
      expect(ids(run({ tag, digest: DIGEST }))).toEqual([]);
    });
  });

  describe("tag.not-pinned", () => {
    it("gives the pinned reference to use", () => {
      const f = run({ tag: "3.12" }).find((x) => x.id === "tag.not-pinned")!;
      expect(f.evidence.pinned).toBe(`docker.io/library/python:3.12@${DIGEST}`);
      expect(f.detail).toContain(`docker.io/library/python:3.12@${DIGEST}`);
    });
    it("is info", () => {
      expect(run({ tag: "3.12" })[0]!.severity).toBe("info");
    });
  });

  describe("tag.moved", () => {
    it("fires when the tag resolves elsewhere than at its last check", () => {
      const f = run({ tag: "3.12" }, { lastKnownDigest: OTHER }).find((x) => x.id === "tag.moved");
      expect(f?.evidence).toEqual({ tag: "3.12", lastKnownDigest: OTHER, currentDigest: DIGEST });
    });
    it("does not fire when it still resolves to the same digest, or was never seen", () => {
      expect(ids(run({ tag: "3.12" }, { lastKnownDigest: DIGEST }))).toEqual(["tag.not-pinned"]);
      expect(ids(run({ tag: "3.12" }, { lastKnownDigest: null }))).toEqual(["tag.not-pinned"]);
    });
    it("does not fire for a digest-only reference", () => {
      expect(ids(run({ digest: DIGEST }, { lastKnownDigest: OTHER }))).toEqual([]);
    });
    it("reads ctx.tagDigest for a name:tag@digest reference", () => {
      expect(
        ids(run({ tag: "3.12", digest: DIGEST }, { lastKnownDigest: DIGEST, tagDigest: OTHER })),
      ).toEqual(["tag.digest-conflict", "tag.moved"]);
    });
  });

  describe("tag.digest-conflict", () => {
    it("fires when the tag now resolves elsewhere than the pin (ctx.tagDigest)", () => {
      const f = run({ tag: "3.12", digest: DIGEST }, { tagDigest: OTHER }).find(
        (x) => x.id === "tag.digest-conflict",
      );
      expect(f?.evidence).toEqual({ tag: "3.12", pinnedDigest: DIGEST, tagDigest: OTHER });
    });
    it("reads what the registry source saw the tag resolve to", () => {
      const facts = cleanFacts();
      facts.registryInfo = { tagDigest: OTHER };
      const found = tagChecks(facts, { ...cleanContext(), lastKnownDigest: null }).map((f) => f.id);
      expect(found).toEqual(["tag.digest-conflict"]);
    });
    it("fires when the facts were gathered by tag and differ from the pin", () => {
      expect(ids(run({ tag: "3.12", digest: DIGEST }, {}, OTHER))).toEqual(["tag.digest-conflict"]);
    });
    it("does not fire when they agree", () => {
      expect(ids(run({ tag: "3.12", digest: DIGEST }, { tagDigest: DIGEST }))).toEqual([]);
    });
  });

  it("pins a digest-only reference without a tag", () => {
    expect(pinnedReference({ registry: "ghcr.io", repository: "acme/app", digest: DIGEST })).toBe(
      `ghcr.io/acme/app@${DIGEST}`,
    );
  });
});
