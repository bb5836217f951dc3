import { describe, expect, it } from "vitest";
import { isSourceUrl, provenanceChecks } from "../../src/checks/provenance.js";
import type { Finding } from "../../src/checks/types.js";
import type { HubFacts, ImageFacts } from "../../src/facts/model.js";
import { cleanContext, cleanFacts, cleanTrust, NOW } from "../support/facts.js";

const ids = (fs: Finding[]) => fs.map((f) => f.id).sort();

function publisherOf(
  registry: string,
  repository: string,
  hub?: HubFacts,
  trusted = cleanContext().policy.registries.trusted,
) {
  const facts = cleanFacts();
  facts.reference = { registry, repository, tag: "1.0", original: `${registry}/${repository}:1.0` };
  if (hub) facts.hub = hub;
  const ctx = cleanContext();
  ctx.policy.registries.trusted = trusted;
  const fs = provenanceChecks(facts, ctx);
  return {
    kind: fs.find((f) => f.id === "provenance.publisher")!.evidence.publisher,
    untrusted: fs.some((f) => f.id === "provenance.untrusted-publisher"),
  };
}

describe("provenance checks", () => {
  it("report only the publisher for the clean image", () => {
    expect(ids(provenanceChecks(cleanFacts(), cleanContext()))).toEqual(["provenance.publisher"]);
  });

  describe("provenance.publisher", () => {
    it.each([
      ["an official image", "docker.io", "library/nginx", undefined, "official", false],
      [
        "a verified publisher badge",
        "docker.io",
        "grafana/grafana",
        { badge: "verified_publisher" },
        "verified-publisher",
        false,
      ],
      [
        "a sponsored OSS badge",
        "docker.io",
        "binacle/binacle",
        { badge: "open_source" },
        "sponsored-oss",
        false,
      ],
      [
        "a repository the policy trusts",
        "registry.example.com",
        "acme/app",
        undefined,
        "trusted-by-policy",
        false,
      ],
      ["a Hub repository without a badge", "docker.io", "someone/tool", {}, "community", true],
      ["another registry's repository", "ghcr.io", "someone/tool", undefined, "community", true],
      [
        "Hub unreachable",
        "docker.io",
        "someone/tool",
        { error: { code: "TIMEOUT", message: "no answer" } },
        "unknown",
        true,
      ],
      ["Hub not asked", "docker.io", "someone/tool", undefined, "unknown", true],
    ] as const)("says %s", (_what, registry, repository, hub, kind, untrusted) => {
      expect(publisherOf(registry, repository, hub as HubFacts | undefined)).toEqual({ kind, untrusted });
    });

    it("says so when Hub could not be reached", () => {
      const facts = cleanFacts();
      facts.reference = {
        registry: "docker.io",
        repository: "someone/tool",
        tag: "1.0",
        original: "someone/tool:1.0",
      };
      facts.hub = {
        error: { code: "NETWORK", message: "Docker Hub could not be reached at hub.docker.com" },
      };
      const f = provenanceChecks(facts, cleanContext()).find((x) => x.id === "provenance.publisher")!;
      expect(f.title).toBe("Publisher: unknown");
      expect(f.detail).toContain("NETWORK");
      expect(f.evidence.hubError).toEqual(facts.hub.error);
    });

    it("records Hub's metadata", () => {
      const facts = cleanFacts();
      facts.reference = {
        registry: "docker.io",
        repository: "grafana/grafana",
        tag: "11.0.0",
        original: "grafana/grafana:11.0.0",
      };
      facts.hub = {
        badge: "verified_publisher",
        lastUpdated: "2026-11-01T00:00:00Z",
        pullCount: 1_000_000_000,
        starCount: 3000,
      };
      const f = provenanceChecks(facts, cleanContext()).find((x) => x.id === "provenance.publisher")!;
      expect(f.evidence.hub).toEqual({
        badge: "verified_publisher",
        lastUpdated: "2026-11-01T00:00:00Z",
        pullCount: 1_000_000_000,
        starCount: 3000,
      });
    });

    it("matches trusted globs segment by segment", () => {
      expect(publisherOf("ghcr.io", "acme/team/app", undefined, ["ghcr.io/acme/*"]).kind).toBe("community");
      expect(publisherOf("ghcr.io", "acme/team/app", undefined, ["ghcr.io/acme/**"]).kind).toBe(
        "trusted-by-policy",
      );
    });
  });

  describe("provenance.no-source and no-revision", () => {
    function without(change: (f: ImageFacts) => void, trust = cleanTrust()) {
      const facts = cleanFacts();
      change(facts);
      return ids(provenanceChecks(facts, { ...cleanContext(), trust })).filter(
        (id) => id !== "provenance.publisher",
      );
    }
    const noLabels = (f: ImageFacts) => {
      f.config.labels = {};
    };
    const noProvenanceRepo = () => {
      const t = cleanTrust();
      t.attestations[0] = { ...t.attestations[0]!, sourceRepository: undefined, sourceRevision: undefined };
      return t;
    };

    it("is satisfied by the attestation alone", () => {
      expect(without(noLabels)).toEqual([]);
    });
    it("is satisfied by the labels alone", () => {
      expect(without(() => {}, noProvenanceRepo())).toEqual([]);
    });
    it("is satisfied by manifest or index annotations", () => {
      const annotated = (f: ImageFacts) => {
        f.config.labels = {};
        f.annotations = { "org.opencontainers.image.source": "https://github.com/acme/app" };
        f.indexAnnotations = { "org.opencontainers.image.revision": "abc123" };
      };
      expect(without(annotated, noProvenanceRepo())).toEqual([]);
    });
    it("accepts the label-schema names", () => {
      const legacy = (f: ImageFacts) => {
        f.config.labels = {
          "org.label-schema.vcs-url": "https://github.com/acme/app",
          "org.label-schema.vcs-ref": "abc123",
        };
      };
      expect(without(legacy, noProvenanceRepo())).toEqual([]);
    });
    it("fires both when neither says anything", () => {
      expect(without(noLabels, noProvenanceRepo())).toEqual([
        "provenance.no-revision",
        "provenance.no-source",
      ]);
    });
    it("fires only no-revision when only the source is known", () => {
      const sourceOnly = (f: ImageFacts) => {
        f.config.labels = { "org.opencontainers.image.source": "https://github.com/acme/app" };
      };
      expect(without(sourceOnly, noProvenanceRepo())).toEqual(["provenance.no-revision"]);
    });
    describe("when a source label or annotation is not a link", () => {
      it.each([
        ["org.opencontainers.image.source", "javascript:alert(1)"],
        ["org.opencontainers.image.source", "data:text/html,hi"],
        ["org.opencontainers.image.source", "TODO"],
        ["org.opencontainers.image.source", "https://"],
        ["org.opencontainers.image.source", "file:///etc/passwd"],
        ["org.opencontainers.image.source", "https://github.com/acme/app <!channel>"],
        ["org.label-schema.vcs-url", "javascript:alert(1)"],
      ])("still fires no-source for %s: %j", (key, value) => {
        const junk = (f: ImageFacts) => {
          f.config.labels = { [key]: value, "org.opencontainers.image.revision": "abc123" };
        };
        const found = without(junk, noProvenanceRepo());
        expect(found).toEqual(["provenance.no-source"]);
      });

      it("fires for a junk annotation too, and names where the non-link was", () => {
        const facts = cleanFacts();
        facts.config.labels = { "org.opencontainers.image.revision": "abc123" };
        facts.annotations = { "org.opencontainers.image.source": "javascript:alert(1)" };
        const f = provenanceChecks(facts, { ...cleanContext(), trust: noProvenanceRepo() }).find(
          (x) => x.id === "provenance.no-source",
        );
        expect(f?.evidence.notLinks).toEqual(["annotation org.opencontainers.image.source"]);
        expect(f?.detail).not.toContain("javascript:");
      });

      it("is satisfied by a later valid link when the first is junk", () => {
        const mixed = (f: ImageFacts) => {
          f.config.labels = {
            "org.opencontainers.image.source": "n/a",
            "org.opencontainers.image.revision": "1",
          };
          f.annotations = { "org.opencontainers.image.source": "https://github.com/acme/app" };
        };
        expect(without(mixed, noProvenanceRepo())).toEqual([]);
      });

      it("does not count an attestation whose repository is not a link", () => {
        const t = noProvenanceRepo();
        t.attestations[0] = {
          ...t.attestations[0]!,
          sourceRepository: "javascript:alert(1)",
          sourceRevision: "1",
        };
        expect(without(noLabels, t)).toEqual(["provenance.no-source"]);
      });
    });

    it.each([
      ["https://github.com/acme/app", true],
      ["http://git.internal.example/acme/app", true],
      ["git://git.kernel.org/pub/scm/git/git.git", true],
      ["ssh://git@github.com/acme/app.git", true],
      ["git+https://github.com/acme/app@refs/heads/main", true],
      ["git+ssh://git@github.com/acme/app.git", true],
      ["git@github.com:acme/app.git", true],
      ["git@host.example:/srv/app.git", true],
      ["javascript:alert(1)", false],
      ["JavaScript:alert(1)", false],
      ["vbscript:msgbox", false],
      ["data:,x", false],
      ["file:///src", false],
      ["ftp://example.com/src", false],
      ["github.com/acme/app", false],
      ["https://", false],
      ["git@:path", false],
      ["", false],
      ["https://github.com/acme app", false],
    ])("isSourceUrl(%j) is %s", (value, want) => {
      expect(isSourceUrl(value)).toBe(want);
    });

    it("ignores an attestation about another digest", () => {
      const t = cleanTrust();
      t.attestations[0] = { ...t.attestations[0]!, subjectMatches: false };
      expect(without(noLabels, t)).toEqual([
        "provenance.no-attestation",
        "provenance.no-revision",
        "provenance.no-source",
      ]);
    });
  });

  describe("provenance.no-attestation", () => {
    it("fires without SLSA provenance", () => {
      const t = cleanTrust();
      t.attestations = t.attestations.filter((a) => a.kind !== "slsa-provenance");
      const facts = cleanFacts();
      expect(ids(provenanceChecks(facts, { ...cleanContext(), trust: t }))).toEqual([
        "provenance.no-attestation",
        "provenance.publisher",
      ]);
    });
  });

  describe("provenance.stale", () => {
    function aged(created: string | undefined, history: string[] = []) {
      const facts = cleanFacts();
      facts.config.created = created;
      facts.history = history.map((h) => ({
        created: h,
        createdBy: "COPY . / # buildkit",
        emptyLayer: false,
      }));
      return provenanceChecks(facts, cleanContext()).find((f) => f.id === "provenance.stale");
    }
    it("fires past maxAgeDays", () => {
      const f = aged(new Date(NOW.getTime() - 400 * 86_400_000).toISOString());
      expect(f?.evidence).toMatchObject({ ageDays: 400, maxAgeDays: 365 });
    });
    it("does not fire within maxAgeDays", () => {
      expect(aged(new Date(NOW.getTime() - 365 * 86_400_000).toISOString())).toBeUndefined();
    });
    it("skips a reproducible-build epoch and falls back to history", () => {
      expect(aged("1970-01-01T00:00:00Z")).toBeUndefined();
      expect(aged("1970-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"])?.evidence).toMatchObject({
        from: "newest history entry",
      });
    });
  });
});
