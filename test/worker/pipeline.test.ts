import { describe, expect, it } from "vitest";
import type { ImageFacts, ImageSource } from "../../src/facts/model.js";
import { checkImage, FACT_LIMITS } from "../../src/worker/pipeline.js";
import { cleanFacts, cleanPolicy } from "../support/facts.js";

/** A source that answers with fixed facts, counting calls. */
function fixedSource(facts: ImageFacts): ImageSource & { calls: number } {
  return {
    kind: "registry",
    calls: 0,
    async gather() {
      this.calls++;
      return facts;
    },
  };
}

function depsWith(source: ImageSource) {
  const policy = cleanPolicy();
  return {
    policy,
    policyVersion: "test",
    source,
    trust: { keys: [], keyless: [], trustedRoot: undefined },
    now: () => new Date("2026-11-30T12:00:00Z"),
  };
}

describe("checkImage", () => {
  describe("when the config is padded far beyond any real image", () => {
    const padded = cleanFacts();
    padded.config = {
      ...padded.config,
      user: "root",
      env: [
        ...Array.from({ length: 100_000 }, (_, i) => `PAD_${i}=x`),
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      ],
    };

    it("checks what fits the limits, says the rest was not checked, and cannot pass", async () => {
      const { report } = await checkImage(
        "registry.example.com/acme/app:1.4.2",
        depsWith(fixedSource(padded)),
      );
      const ids = report.findings.map((f) => f.id);
      // The config was read: its checks still run over the first entries.
      expect(ids).toContain("config.root-user");
      const incomplete = report.findings.find((f) => f.id === "check.incomplete");
      expect(JSON.stringify(incomplete)).toContain(`only the first ${FACT_LIMITS.env}`);
      expect(report.verdict).not.toBe("pass");
    });
  });

  describe("when a value is longer than the secret scanner reads", () => {
    it("says it was only partly scanned and cannot pass", async () => {
      const facts = cleanFacts();
      facts.config = {
        ...facts.config,
        env: [...facts.config.env, `NOTES=${"x".repeat(70_000)} AKIAIOSFODNN7EXAMPLE`],
      };
      const { report } = await checkImage(
        "registry.example.com/acme/app:1.4.2",
        depsWith(fixedSource(facts)),
      );
      const incomplete = report.findings.find((f) => f.id === "check.incomplete");
      expect(JSON.stringify(incomplete)).toContain("only their start was scanned");
      expect(report.verdict).not.toBe("pass");
    });
  });

  describe("when the facts fit the limits", () => {
    it("adds nothing about limits", async () => {
      const { report } = await checkImage(
        "registry.example.com/acme/app:1.4.2",
        depsWith(fixedSource(cleanFacts())),
      );
      expect(JSON.stringify(report.findings)).not.toContain("limits");
    });
  });

  describe("when the source fails", () => {
    it("reports check.incomplete with the code and never passes", async () => {
      const source: ImageSource = {
        kind: "registry",
        gather: async () => {
          throw Object.assign(new Error("GET manifest: HTTP 503"), { code: "SERVER_ERROR" });
        },
      };
      const outcome = await checkImage("registry.example.com/acme/app:1.4.2", depsWith(source));
      expect(outcome.facts).toBeNull();
      expect(outcome.report.verdict).not.toBe("pass");
      expect(outcome.report.findings.map((f) => f.id)).toContain("check.incomplete");
    });
  });

  describe("when the reference is malformed", () => {
    it("throws a coded error before asking the source", async () => {
      const source = fixedSource(cleanFacts());
      await expect(checkImage("UPPER/case", depsWith(source))).rejects.toMatchObject({ code: "UPPERCASE" });
      expect(source.calls).toBe(0);
    });
  });
});
