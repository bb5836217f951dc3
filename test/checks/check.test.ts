import { describe, expect, it } from "vitest";
import { findingsForGatherError, incompleteFindings, runChecks } from "../../src/checks/index.js";
import { cleanContext, cleanFacts } from "../support/facts.js";

describe("check.incomplete", () => {
  describe("findingsForGatherError", () => {
    it("gives check.incomplete (high) with the code", () => {
      const [f, ...rest] = findingsForGatherError({
        code: "TOO_MANY_REQUESTS",
        message: "429 from the registry",
      });
      expect(rest).toEqual([]);
      expect(f).toMatchObject({
        id: "check.incomplete",
        severity: "high",
        evidence: { code: "TOO_MANY_REQUESTS" },
      });
      expect(f!.detail).toContain("TOO_MANY_REQUESTS");
    });

    it("adds trust.digest-mismatch (critical) for DIGEST_MISMATCH", () => {
      const fs = findingsForGatherError({
        code: "DIGEST_MISMATCH",
        message: "manifest sha256:aa hashed to sha256:bb",
      });
      expect(fs.map((f) => [f.id, f.severity])).toEqual([
        ["trust.digest-mismatch", "critical"],
        ["check.incomplete", "high"],
      ]);
    });

    it("masks credentials a message quotes", () => {
      const [f] = findingsForGatherError({
        code: "NETWORK",
        message: "GET https://bot:hunter2hunter2@registry.example.com/v2/ failed",
      });
      expect(JSON.stringify(f)).not.toContain("hunter2hunter2");
    });
  });

  describe("incompleteFindings", () => {
    it("gives nothing for a complete gather", () => {
      expect(incompleteFindings(cleanFacts())).toEqual([]);
    });

    it("gives one finding naming every part and code", () => {
      const facts = cleanFacts();
      facts.incomplete = [
        { part: "signatures", code: "SERVER_ERROR", message: "503" },
        { part: "referrers", code: "TIMEOUT", message: "no answer in 10 s" },
      ];
      const fs = incompleteFindings(facts);
      expect(fs).toHaveLength(1);
      expect(fs[0]!.evidence).toMatchObject({ codes: ["SERVER_ERROR", "TIMEOUT"] });
    });

    it("leaves a Hub outage to the publisher check", () => {
      const facts = cleanFacts();
      facts.incomplete = [{ part: "hub", code: "TIMEOUT", message: "no answer" }];
      expect(incompleteFindings(facts)).toEqual([]);
    });

    it("reports a digest mismatch in a part", () => {
      const facts = cleanFacts();
      facts.incomplete = [
        {
          part: "signatures",
          code: "DIGEST_MISMATCH",
          message: "signature manifest did not hash to its digest",
        },
      ];
      expect(incompleteFindings(facts).map((f) => f.id)).toEqual([
        "trust.digest-mismatch",
        "check.incomplete",
      ]);
    });
  });

  it("runChecks skips the config checks when the config is missing, and says why", () => {
    const facts = cleanFacts();
    facts.config = { ...facts.config, user: "", healthcheck: null };
    facts.history = [];
    facts.incomplete = [{ part: "config", code: "BLOB_UNKNOWN", message: "config blob not found" }];
    const ids = runChecks(facts, cleanContext()).map((f) => f.id);
    expect(ids).toContain("check.incomplete");
    expect(ids).not.toContain("config.root-user");
    expect(ids).not.toContain("history.empty");
  });
});
