// watch.changed: what a re-check found that its approval did not see.
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/index.js";
import type { Finding, Severity } from "../../src/checks/types.js";
import { watchChanges, worstChange } from "../../src/checks/watch.js";
import { cleanContext, cleanFacts } from "../support/facts.js";

const f = (id: string, severity: Severity, waived = false): Finding =>
  ({
    id,
    category: id.split(".")[0],
    severity,
    title: `${id} title`,
    detail: "",
    evidence: {},
    ...(waived ? { waived: { reason: "r", expires: "2099-01-01" } } : {}),
  }) as Finding;

describe("watchChanges", () => {
  it.each([
    ["a new finding at review", [f("trust.untrusted-signer", "medium")], [], ["trust.untrusted-signer"]],
    ["a new finding below review", [f("trust.no-sbom", "low")], [], []],
    [
      "a finding the approval already had",
      [f("config.root-user", "medium")],
      [f("config.root-user", "medium")],
      [],
    ],
    [
      "a finding that grew more severe",
      [f("config.root-user", "high")],
      [f("config.root-user", "medium")],
      ["config.root-user"],
    ],
    [
      "a finding the approval had waived",
      [f("config.root-user", "medium")],
      [f("config.root-user", "medium", true)],
      ["config.root-user"],
    ],
    ["a finding waived now", [f("config.root-user", "medium", true)], [], []],
    ["an incomplete re-check", [f("check.incomplete", "high")], [], []],
  ] as [string, Finding[], Finding[], string[]][])("when %s", (_what, now, approved, expected) => {
    expect(watchChanges(now, approved, "medium").map((c) => c.id)).toEqual(expected);
  });

  it("lists the worst first and names the worst", () => {
    const changes = watchChanges(
      [f("tag.moved", "medium"), f("trust.signature-invalid", "critical")],
      [],
      "medium",
    );
    expect(changes.map((c) => c.id)).toEqual(["trust.signature-invalid", "tag.moved"]);
    expect(worstChange(changes)).toBe("critical");
    expect(worstChange([])).toBeNull();
  });
});

describe("the watch check", () => {
  describe("when there is no approval to compare with (an ordinary check)", () => {
    it("never fires", () => {
      const facts = cleanFacts();
      facts.config.user = "";
      expect(runChecks(facts, cleanContext()).map((x) => x.id)).not.toContain("watch.changed");
    });
  });

  describe("when the policy changes a severity", () => {
    it("judges the re-check under it, as the verdict does", () => {
      const facts = cleanFacts();
      facts.config.user = "";
      const ctx = cleanContext();
      ctx.approval = { findings: [] };
      ctx.policy = {
        ...ctx.policy,
        checks: { ...ctx.policy.checks, severity: { "config.root-user": "low" } },
      };
      expect(runChecks(facts, ctx).map((x) => x.id)).not.toContain("watch.changed");
      ctx.policy = {
        ...ctx.policy,
        checks: { ...ctx.policy.checks, severity: { "config.root-user": "critical" } },
      };
      const changed = runChecks(facts, ctx).find((x) => x.id === "watch.changed");
      expect(changed?.evidence).toMatchObject({ worst: "critical", changes: [{ id: "config.root-user" }] });
    });
  });
});
