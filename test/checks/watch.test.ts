// watch.changed: what a re-check found that its approval did not see.
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/index.js";
import type { CheckContext, Finding, Severity } from "../../src/checks/types.js";
import { type VulnCoverage, watchChanges, worstChange } from "../../src/checks/watch.js";
import type { VulnItem } from "../../src/vuln/types.js";
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

/** An affected item with a fix. */
const cve = (id: string, severity: VulnItem["severity"] = "critical", aliases: string[] = []): VulnItem => ({
  id,
  aliases,
  package: "openssl",
  installed: "3.1.4-r0",
  fixed: "3.1.4-r5",
  severity,
  cvss: null,
  status: "affected",
});

/** Coverage of one finding: the items now, and what the approval saw (undefined: unknown). */
const covering = (id: string, now: VulnItem[], saw: string[] | undefined): VulnCoverage => ({
  now: new Map([[id, now]]),
  approved: new Map(saw ? [[id, new Set(saw)]] : []),
});

describe("watchChanges, for vulnerability findings", () => {
  it.each([
    [
      "a new CVE inside an approved vuln.critical of the same severity",
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      covering("vuln.critical", [cve("CVE-2026-1"), cve("CVE-2026-2")], ["CVE-2026-1"]),
      [["vuln.critical", ["CVE-2026-2"]]],
    ],
    [
      "the same CVEs as the approval",
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      covering("vuln.critical", [cve("CVE-2026-1")], ["CVE-2026-1"]),
      [],
    ],
    [
      "fewer CVEs than the approval",
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      covering("vuln.critical", [cve("CVE-2026-1")], ["CVE-2026-1", "CVE-2026-9"]),
      [],
    ],
    [
      "a CVE the approval saw under an alias",
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      covering(
        "vuln.critical",
        [cve("CVE-2026-1", "critical", ["GHSA-aaaa-bbbb-cccc"])],
        ["GHSA-aaaa-bbbb-cccc"],
      ),
      [],
    ],
    [
      "a new CVE when what the approval saw is unknown (compared by id and severity only)",
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      covering("vuln.critical", [cve("CVE-2026-1"), cve("CVE-2026-2")], undefined),
      [],
    ],
    [
      "a vuln.critical the approval did not have",
      [f("vuln.critical", "critical")],
      [],
      covering("vuln.critical", [cve("CVE-2026-1")], []),
      [["vuln.critical", ["CVE-2026-1"]]],
    ],
    [
      "a new CVE in a finding below review",
      [f("vuln.unfixed", "low")],
      [f("vuln.unfixed", "low")],
      covering("vuln.unfixed", [cve("CVE-2026-1"), cve("CVE-2026-2")], ["CVE-2026-1"]),
      [],
    ],
    [
      "a new CVE in a finding the policy waives now",
      [f("vuln.high", "high", true)],
      [f("vuln.high", "high")],
      covering("vuln.high", [cve("CVE-2026-1", "high"), cve("CVE-2026-2", "high")], ["CVE-2026-1"]),
      [],
    ],
  ] as [string, Finding[], Finding[], VulnCoverage, [string, string[]][]][])(
    "when %s",
    (_what, now, approved, coverage, expected) => {
      const changes = watchChanges(now, approved, "medium", coverage);
      expect(changes.map((c) => [c.id, c.vulnerabilities ?? []])).toEqual(expected);
    },
  );

  it("names the new CVEs in the change's title, five at most", () => {
    const now = Array.from({ length: 7 }, (_, i) => cve(`CVE-2026-${i + 10}`));
    const [change] = watchChanges(
      [f("vuln.critical", "critical")],
      [f("vuln.critical", "critical")],
      "medium",
      covering("vuln.critical", now, []),
    );
    expect(change!.title).toBe(
      "vuln.critical title; new since the approval: CVE-2026-10, CVE-2026-11, CVE-2026-12, CVE-2026-13, CVE-2026-14 and 2 more",
    );
    expect(change!.vulnerabilities).toHaveLength(7);
  });
});

describe("the watch check, when a critical CVE is published for an approved digest", () => {
  /** The check run on a re-check whose data now lists `items`, against `approval`. */
  function recheck(items: VulnItem[], approval: NonNullable<CheckContext["approval"]>) {
    const facts = cleanFacts();
    const ctx = cleanContext();
    const counts = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
    for (const i of items) counts[i.severity]++;
    ctx.vulnerabilities = { report: { sources: [], counts, items }, trusted: true, problems: [] };
    ctx.approval = approval;
    return runChecks(facts, ctx).find((x) => x.id === "watch.changed");
  }
  const approvedFinding = (evidence: Record<string, unknown>) => ({
    id: "vuln.critical" as const,
    severity: "critical" as const,
    evidence,
  });

  it("is a change, read from the approval report's vulnerability items", () => {
    const changed = recheck([cve("CVE-2026-1"), cve("CVE-2026-2")], {
      findings: [approvedFinding({})],
      vulnerabilities: [cve("CVE-2026-1")],
    });
    expect(changed?.evidence).toMatchObject({
      worst: "critical",
      changes: [{ id: "vuln.critical", vulnerabilities: ["CVE-2026-2"] }],
    });
    expect(changed?.detail).toContain("CVE-2026-2");
  });

  it("is a change, read from the approved finding's evidence when it lists every item", () => {
    const changed = recheck([cve("CVE-2026-1"), cve("CVE-2026-2")], {
      findings: [approvedFinding({ count: 1, items: [{ id: "CVE-2026-1" }] })],
    });
    expect(changed?.evidence).toMatchObject({ changes: [{ vulnerabilities: ["CVE-2026-2"] }] });
  });

  it("is not told when the evidence lists only part of what the approval counted", () => {
    const shown = [1, 2, 3, 4, 5].map((n) => ({ id: `CVE-2026-${n}` }));
    const changed = recheck([cve("CVE-2026-1"), cve("CVE-2026-7")], {
      findings: [approvedFinding({ count: 7, items: shown })],
    });
    expect(changed).toBeUndefined();
  });

  it("is nothing when the approval saw the same CVEs", () => {
    const changed = recheck([cve("CVE-2026-1")], {
      findings: [approvedFinding({})],
      vulnerabilities: [cve("CVE-2026-1")],
    });
    expect(changed).toBeUndefined();
  });

  it("compares an approval report's items by today's rule: a CVE waived by an exception then is new once the exception is gone", () => {
    const changed = recheck([cve("CVE-2026-1"), cve("CVE-2026-2")], {
      findings: [approvedFinding({})],
      vulnerabilities: [
        cve("CVE-2026-1"),
        { ...cve("CVE-2026-2"), waived: { reason: "not reachable", expires: "2026-01-01" } },
      ],
    });
    expect(changed?.evidence).toMatchObject({ changes: [{ vulnerabilities: ["CVE-2026-2"] }] });
  });
});
