// recordCliReport as a suite any engine runs: test/store/cli-report.test.ts (SQLite) and
// test/store/cli-report.int.test.ts (PostgreSQL).
import { describe, expect, it } from "vitest";
import type { Report } from "../../../src/checks/report.js";
import type { CliReportInput } from "../../../src/store/api.js";
import { checkedRequest, daysAfter, digest, makeReport, T0 } from "../support.js";
import { countOf, type FreshStore, type TestStore } from "./engine.js";

const AUTO: CliReportInput = {
  requestedBy: "cli:alice",
  approvals: { autoApprovePass: true, expireDays: 30 },
};
const reportCount = (t: TestStore) => countOf(t, "SELECT COUNT(*) AS n FROM reports");
const decisionCount = (t: TestStore) => countOf(t, "SELECT COUNT(*) AS n FROM decisions");

/** A report of `repository` checked as `reference` (which decides whether a digest was pinned). */
function reportAs(reference: string, image: Partial<Report["image"]>, verdict: Report["verdict"] = "review") {
  const report = makeReport({ repository: "docker.io/library/app", verdict });
  return { ...report, reference, image: { ...report.image, ...image } };
}

/** The suite over the stores `fresh` opens. */
export function cliReportSuite(fresh: FreshStore): void {
  describe("recordCliReport", () => {
    describe("when the check does not pass", async () => {
      // Its own store, so nothing else shares the repository.
      const t = await fresh();
      const store = t.store;
      const report = makeReport({
        repository: "docker.io/library/clitool",
        tag: "2.1",
        digest: digest("clitool-2.1"),
        verdict: "review",
      });
      const first = await store.recordCliReport(report, T0, AUTO);

      it("makes the report visible to a status query by tag", async () => {
        const status = await store.statusOf("docker.io/library/clitool", { tag: "2.1" }, T0);
        expect(status.report).toEqual(report);
        expect(status.request).toBeNull();
      });

      it("records what the tag resolved to", async () => {
        expect(await store.lastKnownDigest("docker.io/library/clitool", "2.1")).toBe(digest("clitool-2.1"));
      });

      it("records no request: IT was not asked, and nothing waits for them", async () => {
        expect(first).toEqual({ reportId: expect.stringMatching(/^rep_/), request: null, decision: null });
        expect((await store.pendingRequests({})).items).toEqual([]);
        expect((await store.listDecisions({}, T0)).items).toEqual([]);
      });

      it("stores the same report once", async () => {
        expect((await store.recordCliReport(report, T0, AUTO)).reportId).toBe(first.reportId);
        expect(await reportCount(t)).toBe(1);
      });

      it("names the CLI user in the audit log", async () => {
        const rows = await t.rows("SELECT actor, action FROM audit_log WHERE action = 'report.recorded'");
        expect(rows).toEqual([
          { actor: "cli:alice", action: "report.recorded" },
          { actor: "cli:alice", action: "report.recorded" },
        ]);
      });
    });

    describe("when the check passes and the policy approves passes", async () => {
      const t = await fresh();
      const store = t.store;
      const d = digest("tool-3.0");
      const report = makeReport({
        repository: "docker.io/library/tool",
        tag: "3.0",
        digest: d,
        verdict: "pass",
      });
      const out = await store.recordCliReport(report, T0, AUTO);

      it("records a CLI request approved by the policy, with the policy's expiry", async () => {
        expect(out.request).toMatchObject({
          source: "cli",
          requestedBy: "cli:alice",
          reference: "docker.io/library/tool:3.0",
          repository: "docker.io/library/tool",
          tag: "3.0",
          digest: d,
          verdict: "pass",
          status: "approved",
          reportId: out.reportId,
          decisionId: out.decision?.id,
        });
        expect(out.decision).toMatchObject({
          decidedBy: "policy",
          requestedBy: "cli:alice",
          digest: d,
          decision: "approved",
          expiresAt: daysAfter(30).toISOString(),
        });
      });

      it("shows the approval to `decisions` and to a status query", async () => {
        expect((await store.listDecisions({ repository: "docker.io/library/tool" }, T0)).items).toEqual([
          out.decision,
        ]);
        const status = await store.statusOf("docker.io/library/tool", { tag: "3.0" }, T0);
        expect(status.decision?.id).toBe(out.decision?.id);
        expect(status.request?.id).toBe(out.request?.id);
      });

      it("does not approve again, or extend the approval, while it is in force", async () => {
        const again = await store.recordCliReport(report, daysAfter(1), AUTO);
        expect(again).toEqual({ reportId: out.reportId, request: null, decision: null });
        expect(await decisionCount(t)).toBe(1);
      });

      it("approves again once the approval expired", async () => {
        const later = daysAfter(31);
        const renewed = await store.recordCliReport(
          { ...report, checkedAt: later.toISOString() },
          later,
          AUTO,
        );
        expect(renewed.decision).toMatchObject({ decidedBy: "policy", status: "approved" });
        expect(await decisionCount(t)).toBe(2);
      });
    });

    describe("when a Slack request comes for a digest a CLI run approved by its own policy", () => {
      it("is not covered by that approval: the policy in force judges it", async () => {
        const t = await fresh();
        const store = t.store;
        const d = digest("lax-1.0");
        const cli = await store.recordCliReport(
          makeReport({ repository: "docker.io/library/lax", tag: "1.0", digest: d, verdict: "pass" }),
          T0,
          AUTO,
        );
        expect(cli.decision?.decidedBy).toBe("policy");
        // Under serve's policy the same image needs review.
        const asked = await checkedRequest(store, {
          repository: "docker.io/library/lax",
          tag: "1.0",
          digest: d,
          verdict: "review",
        });
        await expect(async () => await store.coverByDecision(asked.id, cli.decision!.id, T0)).rejects.toThrow(
          expect.objectContaining({ code: "NOT_DECIDABLE" }),
        );
        expect((await store.getRequest(asked.id, T0))?.status).toBe("pending");
      });
    });

    describe("when the check passes but a person rejected that digest", () => {
      it("lets the rejection stand and records no request", async () => {
        const t = await fresh();
        const store = t.store;
        const d = digest("legacy-1.0");
        const asked = await checkedRequest(store, {
          repository: "docker.io/library/legacy",
          tag: "1.0",
          digest: d,
        });
        const rejection = await store.decide({
          requestId: asked.id,
          decision: "rejected",
          decidedBy: "U_IT",
          isApprover: true,
          now: T0,
          expireDays: 90,
        });
        const report = makeReport({
          repository: "docker.io/library/legacy",
          tag: "1.0",
          digest: d,
          verdict: "pass",
        });
        const out = await store.recordCliReport(report, daysAfter(1), AUTO);
        expect(out.request).toBeNull();
        expect(await store.currentDecision("docker.io/library/legacy", d, daysAfter(1))).toEqual(rejection);
        expect(await decisionCount(t)).toBe(1);
      });
    });

    describe("when the policy does not approve passes", () => {
      it("records the report only", async () => {
        const t = await fresh();
        const store = t.store;
        const report = makeReport({ repository: "docker.io/library/quiet", verdict: "pass" });
        const out = await store.recordCliReport(report, T0, {
          requestedBy: "cli:bob",
          approvals: { autoApprovePass: false, expireDays: 30 },
        });
        expect(out.request).toBeNull();
        expect(await decisionCount(t)).toBe(0);
        expect((await store.pendingRequests({})).items).toEqual([]);
      });
    });

    describe("what it records as the tag's digest (for tag.moved)", () => {
      const OLD = digest("app-old");
      const NEW = digest("app-new");
      const cases: { name: string; report: Report; tag: string; expected: string | null }[] = [
        {
          name: "a tag alone: the digest it resolved to",
          report: reportAs("docker.io/library/app:1.0", { tag: "1.0", digest: NEW }),
          tag: "1.0",
          expected: NEW,
        },
        {
          name: "a bare name: the digest `latest` resolved to",
          report: reportAs("app", { tag: undefined, digest: NEW }),
          tag: "latest",
          expected: NEW,
        },
        {
          name: "tag@digest: what the tag resolves to now, not the pinned digest",
          report: reportAs(`app:1.0@${OLD}`, { tag: "1.0", digest: OLD, tagDigest: NEW }),
          tag: "1.0",
          expected: NEW,
        },
        {
          name: "tag@digest whose tag could not be looked up: nothing",
          report: reportAs(`app:1.0@${OLD}`, { tag: "1.0", digest: OLD }),
          tag: "1.0",
          expected: null,
        },
      ];
      for (const c of cases) {
        it(c.name, async () => {
          const t = await fresh();
          const store = t.store;
          await store.recordCliReport(c.report, T0, AUTO);
          expect(await store.lastKnownDigest("docker.io/library/app", c.tag)).toBe(c.expected);
        });
      }

      it("a digest alone: nothing", async () => {
        const t = await fresh();
        const store = t.store;
        await store.recordCliReport(reportAs(`app@${OLD}`, { tag: undefined, digest: OLD }), T0, AUTO);
        expect(await countOf(t, "SELECT COUNT(*) AS n FROM tag_observations")).toBe(0);
      });
    });
  });
}
