// The decision rules through the Store interface (decide, autoApprove, coverByDecision, reopen,
// attachReport, the audit trail), as a suite any engine runs: test/store/decisions.test.ts
// (SQLite) and test/store/decisions.int.test.ts (PostgreSQL).
import { describe, expect, it } from "vitest";
import { StoreError } from "../../../src/store/api.js";
import { checkedRequest, daysAfter, digest, makeReport, T0 } from "../support.js";
import { countOf, type FreshStore } from "./engine.js";

/** The decisions suite over the stores `fresh` opens. */
export function decisionsSuite(fresh: FreshStore): void {
  describe("the store's decisions", async () => {
    const t = await fresh();
    const store = t.store;
    const APPROVER = "U_APPROVER";

    async function approve(requestId: string, now = T0, decidedBy = APPROVER) {
      return await store.decide({
        requestId,
        decision: "approved",
        decidedBy,
        isApprover: true,
        now,
        expireDays: 90,
      });
    }

    async function reject(requestId: string, now = T0, decidedBy = APPROVER) {
      return await store.decide({
        requestId,
        decision: "rejected",
        decidedBy,
        isApprover: true,
        now,
        expireDays: 90,
        reason: "unsigned",
      });
    }

    async function codeOf(fn: () => unknown): Promise<string | undefined> {
      try {
        await fn();
      } catch (err) {
        expect(err).toBeInstanceOf(StoreError);
        return (err as StoreError).code;
      }
      return undefined;
    }

    describe("decisions", () => {
      describe("when an approver approves a pending request", async () => {
        const req = await checkedRequest(store, { repository: "docker.io/library/redis", tag: "7.4" });
        const decision = await approve(req.id);

        it("binds the approval to the digest the check resolved, not the tag", async () => {
          expect(decision.digest).toBe(req.digest);
          expect((await store.currentDecision("docker.io/library/redis", req.digest!, T0))?.requestId).toBe(
            req.id,
          );
        });

        it("sets the expiry from the policy's days", async () => {
          expect(decision.expiresAt).toBe(daysAfter(90).toISOString());
          expect(decision.status).toBe("approved");
        });

        it("moves the request to approved", async () => {
          expect((await store.getRequest(req.id, T0))?.status).toBe("approved");
        });

        it("keeps the requester's reason when the approver gives none", async () => {
          expect(decision.reason).toBe("needed for the build");
        });
      });

      describe("when the tag moved to another digest", async () => {
        const first = await checkedRequest(store, {
          repository: "docker.io/library/node",
          tag: "22",
          digest: digest("node-a"),
        });
        await approve(first.id);
        await store.recordTagObservation("docker.io/library/node", "22", digest("node-a"), T0);
        await store.recordTagObservation("docker.io/library/node", "22", digest("node-b"), daysAfter(1));

        it("has no decision for the new digest", async () => {
          expect(
            await store.currentDecision("docker.io/library/node", digest("node-b"), daysAfter(1)),
          ).toBeNull();
        });

        it("answers a status query by tag with no decision in force", async () => {
          const status = await store.statusOf("docker.io/library/node", { tag: "22" }, daysAfter(1));
          expect(status.decision).toBeNull();
          expect(status.request?.id).toBe(first.id);
        });

        it("still knows the old digest's approval", async () => {
          expect(
            (await store.currentDecision("docker.io/library/node", digest("node-a"), daysAfter(1)))?.status,
          ).toBe("approved");
        });

        it("remembers the newest digest of the tag", async () => {
          expect(await store.lastKnownDigest("docker.io/library/node", "22")).toBe(digest("node-b"));
        });
      });

      describe("when an approval is past its expiry", async () => {
        const req = await checkedRequest(store, { repository: "docker.io/library/nginx", tag: "1.27" });
        await approve(req.id);
        const later = daysAfter(91);

        it("reads as expired in currentDecision", async () => {
          expect((await store.currentDecision("docker.io/library/nginx", req.digest!, later))?.status).toBe(
            "expired",
          );
        });

        it("reads as expired on the request", async () => {
          expect((await store.getRequest(req.id, later))?.status).toBe("expired");
        });

        it("is listed under --status expired and not under approved", async () => {
          const expired = await store.listDecisions(
            { repository: "docker.io/library/nginx", status: "expired" },
            later,
          );
          const approved = await store.listDecisions(
            { repository: "docker.io/library/nginx", status: "approved" },
            later,
          );
          expect(expired.items.map((d) => d.requestId)).toEqual([req.id]);
          expect(approved.items).toEqual([]);
        });

        it("is still approved the moment before", async () => {
          expect(
            (await store.currentDecision("docker.io/library/nginx", req.digest!, daysAfter(89)))?.status,
          ).toBe("approved");
        });
      });

      describe("when a digest was rejected", async () => {
        const req = await checkedRequest(store, { repository: "docker.io/acme/tool", tag: "1.0" });
        await reject(req.id);

        it("stays rejected long after (rejections do not expire)", async () => {
          const d = await store.currentDecision("docker.io/acme/tool", req.digest!, daysAfter(3650));
          expect(d?.status).toBe("rejected");
          expect(d?.expiresAt).toBeNull();
        });

        it("refuses to approve the same request afterwards", async () => {
          expect(await codeOf(async () => await approve(req.id))).toBe("ALREADY_DECIDED");
        });

        it("changes only when someone decides again on a new request", async () => {
          const again = await checkedRequest(store, {
            repository: "docker.io/acme/tool",
            tag: "1.0",
            now: daysAfter(2),
          });
          await approve(again.id, daysAfter(2));
          expect(
            (await store.currentDecision("docker.io/acme/tool", req.digest!, daysAfter(3)))?.requestId,
          ).toBe(again.id);
        });
      });

      describe("when a decision is refused", () => {
        it("refuses the requester deciding their own request", async () => {
          const req = await checkedRequest(store, {
            requestedBy: "U_SELF",
            repository: "docker.io/library/self",
          });
          expect(await codeOf(async () => await approve(req.id, T0, "U_SELF"))).toBe("SELF_DECISION");
          expect((await store.getRequest(req.id))?.status).toBe("pending");
        });

        it("refuses someone who is not an approver", async () => {
          const req = await checkedRequest(store, { repository: "docker.io/library/notapprover" });
          const code = await codeOf(
            async () =>
              await store.decide({
                requestId: req.id,
                decision: "approved",
                decidedBy: "U_RANDOM",
                isApprover: false,
                now: T0,
                expireDays: 90,
              }),
          );
          expect(code).toBe("NOT_APPROVER");
        });

        it("refuses a second decision on the same request", async () => {
          const req = await checkedRequest(store, { repository: "docker.io/library/twice" });
          await approve(req.id);
          expect(await codeOf(async () => await reject(req.id, T0, "U_OTHER_APPROVER"))).toBe(
            "ALREADY_DECIDED",
          );
          expect((await store.history("docker.io/library/twice", {}, T0)).items).toHaveLength(1);
        });

        it("refuses a request still being checked", async () => {
          const req = await store.createRequest(
            {
              reference: "alpine:3.20",
              repository: "docker.io/library/alpine",
              tag: "3.20",
              requestedBy: "U1",
              source: "cli",
            },
            T0,
          );
          expect(await codeOf(async () => await approve(req.id))).toBe("NOT_DECIDABLE");
        });

        it("refuses a failed request", async () => {
          const req = await store.createRequest(
            {
              reference: "gone:1",
              repository: "docker.io/library/gone",
              tag: "1",
              requestedBy: "U1",
              source: "slack",
            },
            T0,
          );
          await store.failRequest(req.id, { code: "NAME_UNKNOWN", message: "no such repository" }, T0);
          expect(await codeOf(async () => await approve(req.id))).toBe("NOT_DECIDABLE");
        });

        it("refuses an unknown request", async () => {
          expect(await codeOf(async () => await approve("req_doesnotexist0000"))).toBe("NOT_FOUND");
        });
      });

      describe("when the policy approves a pass", async () => {
        const req = await checkedRequest(store, { repository: "docker.io/library/busybox", verdict: "pass" });
        const decision = await store.autoApprove(req.id, T0, 30);

        it("records the policy as the decider", async () => {
          expect(decision.decidedBy).toBe("policy");
          expect(decision.expiresAt).toBe(daysAfter(30).toISOString());
        });

        it("refuses to auto-approve anything but a pass", async () => {
          const review = await checkedRequest(store, {
            repository: "docker.io/library/busybox-review",
            verdict: "review",
          });
          expect(await codeOf(async () => await store.autoApprove(review.id, T0, 30))).toBe("NOT_DECIDABLE");
        });
      });

      describe("the audit log", async () => {
        const req = await checkedRequest(store, { repository: "docker.io/library/audited" });
        await approve(req.id);

        it("has an entry for every state change, the decision with its actor", async () => {
          const trail = await store.audit(req.id);
          expect(trail.map((e) => e.action)).toEqual([
            "request.created",
            "request.checked",
            "decision.approved",
          ]);
          expect(trail[2]).toMatchObject({ actor: APPROVER, at: T0.toISOString() });
        });

        it("has one decision entry per decision ever written", async () => {
          const decisions = await countOf(t, "SELECT COUNT(*) AS n FROM decisions");
          const entries = await countOf(
            t,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'decision.%'",
          );
          expect(entries).toBe(decisions);
        });
      });
    });

    describe("attachReport", () => {
      describe("when the same report is attached twice", async () => {
        const req = await store.createRequest(
          {
            reference: "ruby:3.3",
            repository: "docker.io/library/ruby",
            tag: "3.3",
            requestedBy: "U1",
            source: "slack",
          },
          T0,
        );
        const report = makeReport({
          repository: "docker.io/library/ruby",
          tag: "3.3",
          digest: digest("ruby"),
        });
        const first = await store.attachReport(req.id, report, T0);
        const second = await store.attachReport(req.id, report, T0);

        it("stores one report", async () => {
          expect(
            await countOf(t, `SELECT COUNT(*) AS n FROM reports WHERE digest = '${digest("ruby")}'`),
          ).toBe(1);
          expect(second).toEqual(first);
        });

        it("makes the report readable by id", async () => {
          expect(await store.getReport(first.reportId!)).toEqual(report);
        });
      });

      describe("when the check could not resolve a digest", () => {
        it("fails the request with NO_DIGEST", async () => {
          const req = await store.createRequest(
            {
              reference: "nope:1",
              repository: "docker.io/library/nope",
              tag: "1",
              requestedBy: "U1",
              source: "cli",
            },
            T0,
          );
          const out = await store.attachReport(req.id, makeReport({ digest: null, verdict: "review" }), T0);
          expect(out.status).toBe("failed");
          expect(out.error?.code).toBe("NO_DIGEST");
        });
      });
    });

    describe("coverByDecision", () => {
      const decisionsOf = (repository: string) =>
        countOf(t, `SELECT COUNT(*) AS n FROM decisions WHERE repository = '${repository}'`);

      describe("when the digest has an approval in force", async () => {
        const repository = "docker.io/acme/covered";
        const first = await checkedRequest(store, { repository, tag: "2" });
        const approval = await approve(first.id);
        const later = daysAfter(10);
        const second = await checkedRequest(store, {
          repository,
          tag: "2",
          requestedBy: "U_OTHER",
          now: later,
        });
        const covered = await store.coverByDecision(second.id, approval.id, later);

        it("approves the new request on that decision, without a new one", async () => {
          expect(covered).toMatchObject({ status: "approved", decisionId: approval.id });
          expect(await decisionsOf(repository)).toBe(1);
          expect(await store.getDecision(covered.decisionId!, later)).toEqual({
            ...approval,
            status: "approved",
          });
        });

        it("keeps the approval's expiry (no extension)", async () => {
          expect((await store.getRequest(second.id, daysAfter(89)))?.status).toBe("approved");
          expect((await store.getRequest(second.id, daysAfter(90)))?.status).toBe("expired");
        });

        it("leaves the pending list", async () => {
          const pending = (await store.pendingRequests({ limit: 500 })).items.map((r) => r.id);
          expect(pending).not.toContain(second.id);
        });

        it("writes an audit entry naming the decision", async () => {
          expect((await store.audit(second.id)).at(-1)).toMatchObject({
            action: "request.covered",
            detail: { decisionId: approval.id, decision: "approved", decidedBy: APPROVER },
          });
        });

        it("is idempotent: running it again changes nothing", async () => {
          const trail = (await store.audit(second.id)).length;
          expect(await store.coverByDecision(second.id, approval.id, daysAfter(11))).toEqual(covered);
          expect(await store.audit(second.id)).toHaveLength(trail);
        });
      });

      describe("when the digest was rejected", async () => {
        const repository = "docker.io/acme/refused";
        const first = await checkedRequest(store, { repository, tag: "1" });
        const rejection = await reject(first.id);
        const second = await checkedRequest(store, {
          repository,
          tag: "1",
          verdict: "pass",
          requestedBy: "U_OTHER",
          now: daysAfter(400),
        });
        const covered = await store.coverByDecision(second.id, rejection.id, daysAfter(400));
        // Before the requester reopens it and IT decides below (describe bodies run first, in order).
        const autoApproval = await codeOf(async () => await store.autoApprove(second.id, daysAfter(400), 90));
        const decisionsAfterCover = await decisionsOf(repository);

        it("rejects the new request on that decision, whatever its verdict", async () => {
          expect(covered).toMatchObject({ status: "rejected", decisionId: rejection.id });
          expect(decisionsAfterCover).toBe(1);
        });

        it("refuses a policy approval afterwards", async () => {
          expect(autoApproval).toBe("ALREADY_DECIDED");
        });

        describe("and the requester asks IT to reconsider", async () => {
          const reopened = await store.reopenCovered(
            second.id,
            "U_OTHER",
            "fixed upstream in 1.0.1",
            daysAfter(401),
          );
          const pendingAfter = (await store.pendingRequests({ limit: 500 })).items.map((r) => r.id);
          const trail = await store.audit(second.id);
          const again = await store.reopenCovered(second.id, "U_OTHER", "again", daysAfter(401));
          // As a check job re-run after a crash would try.
          const coverAgain = await codeOf(
            async () => await store.coverByDecision(second.id, rejection.id, daysAfter(401)),
          );
          const approval = await approve(second.id, daysAfter(402));

          it("puts the request back in the pending list with the new reason, on no decision", async () => {
            expect(reopened).toMatchObject({
              status: "pending",
              decisionId: null,
              reason: "fixed upstream in 1.0.1",
            });
            expect(pendingAfter).toContain(second.id);
            expect(trail.at(-1)).toMatchObject({
              action: "request.reopened",
              actor: "U_OTHER",
              detail: { previousDecisionId: rejection.id },
            });
          });

          it("is idempotent", async () => {
            expect(again.reason).toBe("fixed upstream in 1.0.1");
          });

          it("is never settled on the old rejection again (only a person decides it now)", async () => {
            expect(coverAgain).toBe("NOT_DECIDABLE");
          });

          it("lets IT decide again, and the new decision supersedes the rejection", async () => {
            expect((await store.currentDecision(repository, second.digest!, daysAfter(403)))?.id).toBe(
              approval.id,
            );
            expect((await store.getRequest(second.id, daysAfter(403)))?.decisionId).toBe(approval.id);
          });
        });

        it("refuses to reopen a request rejected on its own decision", async () => {
          expect(
            await codeOf(
              async () => await store.reopenCovered(first.id, first.requestedBy, "please", daysAfter(401)),
            ),
          ).toBe("NOT_DECIDABLE");
        });
      });

      describe("when the decision is not in force for the request", async () => {
        const repository = "docker.io/acme/stale";
        const old = await checkedRequest(store, { repository, tag: "1" });
        const oldApproval = await approve(old.id);
        const other = await checkedRequest(store, { repository, tag: "2" });

        it("refuses an approval past its expiry", async () => {
          const late = await checkedRequest(store, { repository, tag: "1", now: daysAfter(91) });
          expect(
            await codeOf(async () => await store.coverByDecision(late.id, oldApproval.id, daysAfter(91))),
          ).toBe("NOT_DECIDABLE");
          expect((await store.getRequest(late.id))?.status).toBe("pending");
        });

        it("refuses a decision about another digest", async () => {
          expect(await codeOf(async () => await store.coverByDecision(other.id, oldApproval.id, T0))).toBe(
            "NOT_DECIDABLE",
          );
        });

        it("refuses a decision that a newer one superseded", async () => {
          const again = await checkedRequest(store, { repository, tag: "1", now: daysAfter(1) });
          await reject(again.id, daysAfter(1));
          const third = await checkedRequest(store, { repository, tag: "1", now: daysAfter(2) });
          expect(
            await codeOf(async () => await store.coverByDecision(third.id, oldApproval.id, daysAfter(2))),
          ).toBe("NOT_DECIDABLE");
        });

        it("refuses a request still being checked, and an unknown decision", async () => {
          const checking = await store.createRequest(
            { reference: `${repository}:1`, repository, tag: "1", requestedBy: "U1", source: "slack" },
            T0,
          );
          expect(await codeOf(async () => await store.coverByDecision(checking.id, oldApproval.id, T0))).toBe(
            "NOT_DECIDABLE",
          );
          expect(await codeOf(async () => await store.coverByDecision(other.id, "dec_999999", T0))).toBe(
            "NOT_FOUND",
          );
        });

        it("refuses a request that stands on another decision", async () => {
          expect(
            await codeOf(async () => await store.coverByDecision(old.id, oldApproval.id, T0)),
          ).toBeUndefined();
          const mine = await checkedRequest(store, { repository, tag: "3" });
          const own = await approve(mine.id);
          expect(own.id).not.toBe(oldApproval.id);
          expect(await codeOf(async () => await store.coverByDecision(mine.id, oldApproval.id, T0))).toBe(
            "ALREADY_DECIDED",
          );
        });
      });
    });
  });
}
