import { describe, expect, it } from "vitest";
import { StoreError } from "../../src/store/api.js";
import { checkedRequest, daysAfter, digest, freshStore, makeReport, T0 } from "./support.js";

const store = freshStore();
const APPROVER = "U_APPROVER";

function approve(requestId: string, now = T0, decidedBy = APPROVER) {
  return store.decide({ requestId, decision: "approved", decidedBy, isApprover: true, now, expireDays: 90 });
}

function reject(requestId: string, now = T0, decidedBy = APPROVER) {
  return store.decide({
    requestId,
    decision: "rejected",
    decidedBy,
    isApprover: true,
    now,
    expireDays: 90,
    reason: "unsigned",
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return (err as StoreError).code;
  }
  return undefined;
}

describe("decisions", () => {
  describe("when an approver approves a pending request", () => {
    const req = checkedRequest(store, { repository: "docker.io/library/redis", tag: "7.4" });
    const decision = approve(req.id);

    it("binds the approval to the digest the check resolved, not the tag", () => {
      expect(decision.digest).toBe(req.digest);
      expect(store.currentDecision("docker.io/library/redis", req.digest!, T0)?.requestId).toBe(req.id);
    });

    it("sets the expiry from the policy's days", () => {
      expect(decision.expiresAt).toBe(daysAfter(90).toISOString());
      expect(decision.status).toBe("approved");
    });

    it("moves the request to approved", () => {
      expect(store.getRequest(req.id, T0)?.status).toBe("approved");
    });

    it("keeps the requester's reason when the approver gives none", () => {
      expect(decision.reason).toBe("needed for the build");
    });
  });

  describe("when the tag moved to another digest", () => {
    const first = checkedRequest(store, {
      repository: "docker.io/library/node",
      tag: "22",
      digest: digest("node-a"),
    });
    approve(first.id);
    store.recordTagObservation("docker.io/library/node", "22", digest("node-a"), T0);
    store.recordTagObservation("docker.io/library/node", "22", digest("node-b"), daysAfter(1));

    it("has no decision for the new digest", () => {
      expect(store.currentDecision("docker.io/library/node", digest("node-b"), daysAfter(1))).toBeNull();
    });

    it("answers a status query by tag with no decision in force", () => {
      const status = store.statusOf("docker.io/library/node", { tag: "22" }, daysAfter(1));
      expect(status.decision).toBeNull();
      expect(status.request?.id).toBe(first.id);
    });

    it("still knows the old digest's approval", () => {
      expect(store.currentDecision("docker.io/library/node", digest("node-a"), daysAfter(1))?.status).toBe(
        "approved",
      );
    });

    it("remembers the newest digest of the tag", () => {
      expect(store.lastKnownDigest("docker.io/library/node", "22")).toBe(digest("node-b"));
    });
  });

  describe("when an approval is past its expiry", () => {
    const req = checkedRequest(store, { repository: "docker.io/library/nginx", tag: "1.27" });
    approve(req.id);
    const later = daysAfter(91);

    it("reads as expired in currentDecision", () => {
      expect(store.currentDecision("docker.io/library/nginx", req.digest!, later)?.status).toBe("expired");
    });

    it("reads as expired on the request", () => {
      expect(store.getRequest(req.id, later)?.status).toBe("expired");
    });

    it("is listed under --status expired and not under approved", () => {
      const expired = store.listDecisions(
        { repository: "docker.io/library/nginx", status: "expired" },
        later,
      );
      const approved = store.listDecisions(
        { repository: "docker.io/library/nginx", status: "approved" },
        later,
      );
      expect(expired.items.map((d) => d.requestId)).toEqual([req.id]);
      expect(approved.items).toEqual([]);
    });

    it("is still approved the moment before", () => {
      expect(store.currentDecision("docker.io/library/nginx", req.digest!, daysAfter(89))?.status).toBe(
        "approved",
      );
    });
  });

  describe("when a digest was rejected", () => {
    const req = checkedRequest(store, { repository: "docker.io/acme/tool", tag: "1.0" });
    reject(req.id);

    it("stays rejected long after (rejections do not expire)", () => {
      const d = store.currentDecision("docker.io/acme/tool", req.digest!, daysAfter(3650));
      expect(d?.status).toBe("rejected");
      expect(d?.expiresAt).toBeNull();
    });

    it("refuses to approve the same request afterwards", () => {
      expect(codeOf(() => approve(req.id))).toBe("ALREADY_DECIDED");
    });

    it("changes only when someone decides again on a new request", () => {
      const again = checkedRequest(store, {
        repository: "docker.io/acme/tool",
        tag: "1.0",
        now: daysAfter(2),
      });
      approve(again.id, daysAfter(2));
      expect(store.currentDecision("docker.io/acme/tool", req.digest!, daysAfter(3))?.requestId).toBe(
        again.id,
      );
    });
  });

  describe("when a decision is refused", () => {
    it("refuses the requester deciding their own request", () => {
      const req = checkedRequest(store, { requestedBy: "U_SELF", repository: "docker.io/library/self" });
      expect(codeOf(() => approve(req.id, T0, "U_SELF"))).toBe("SELF_DECISION");
      expect(store.getRequest(req.id)?.status).toBe("pending");
    });

    it("refuses someone who is not an approver", () => {
      const req = checkedRequest(store, { repository: "docker.io/library/notapprover" });
      const code = codeOf(() =>
        store.decide({
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

    it("refuses a second decision on the same request", () => {
      const req = checkedRequest(store, { repository: "docker.io/library/twice" });
      approve(req.id);
      expect(codeOf(() => reject(req.id, T0, "U_OTHER_APPROVER"))).toBe("ALREADY_DECIDED");
      expect(store.history("docker.io/library/twice", {}, T0).items).toHaveLength(1);
    });

    it("refuses a request still being checked", () => {
      const req = store.createRequest(
        {
          reference: "alpine:3.20",
          repository: "docker.io/library/alpine",
          tag: "3.20",
          requestedBy: "U1",
          source: "cli",
        },
        T0,
      );
      expect(codeOf(() => approve(req.id))).toBe("NOT_DECIDABLE");
    });

    it("refuses a failed request", () => {
      const req = store.createRequest(
        {
          reference: "gone:1",
          repository: "docker.io/library/gone",
          tag: "1",
          requestedBy: "U1",
          source: "slack",
        },
        T0,
      );
      store.failRequest(req.id, { code: "NAME_UNKNOWN", message: "no such repository" }, T0);
      expect(codeOf(() => approve(req.id))).toBe("NOT_DECIDABLE");
    });

    it("refuses an unknown request", () => {
      expect(codeOf(() => approve("req_doesnotexist0000"))).toBe("NOT_FOUND");
    });
  });

  describe("when the policy approves a pass", () => {
    const req = checkedRequest(store, { repository: "docker.io/library/busybox", verdict: "pass" });
    const decision = store.autoApprove(req.id, T0, 30);

    it("records the policy as the decider", () => {
      expect(decision.decidedBy).toBe("policy");
      expect(decision.expiresAt).toBe(daysAfter(30).toISOString());
    });

    it("refuses to auto-approve anything but a pass", () => {
      const review = checkedRequest(store, {
        repository: "docker.io/library/busybox-review",
        verdict: "review",
      });
      expect(codeOf(() => store.autoApprove(review.id, T0, 30))).toBe("NOT_DECIDABLE");
    });
  });

  describe("the audit log", () => {
    const req = checkedRequest(store, { repository: "docker.io/library/audited" });
    approve(req.id);

    it("has an entry for every state change, the decision with its actor", () => {
      const trail = store.audit(req.id);
      expect(trail.map((e) => e.action)).toEqual(["request.created", "request.checked", "decision.approved"]);
      expect(trail[2]).toMatchObject({ actor: APPROVER, at: T0.toISOString() });
    });

    it("has one decision entry per decision ever written", () => {
      const decisions = (
        store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM decisions").get() as { n: number }
      ).n;
      const entries = (
        store.db.sqlite
          .prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'decision.%'")
          .get() as { n: number }
      ).n;
      expect(entries).toBe(decisions);
    });

    it("refuses UPDATE", () => {
      expect(() => store.db.sqlite.prepare("UPDATE audit_log SET actor = 'someone else'").run()).toThrow(
        expect.objectContaining({ code: "SQLITE_CONSTRAINT_TRIGGER" }),
      );
    });

    it("refuses DELETE", () => {
      expect(() => store.db.sqlite.prepare("DELETE FROM audit_log").run()).toThrow(
        expect.objectContaining({ code: "SQLITE_CONSTRAINT_TRIGGER" }),
      );
    });
  });

  describe("a decision that fails half-way", () => {
    it("writes neither the decision nor its audit entry", () => {
      const req = checkedRequest(store, { repository: "docker.io/library/atomic" });
      // Break the audit insert: the decision must roll back with it.
      store.db.sqlite.exec(
        "CREATE TEMP TRIGGER break_audit BEFORE INSERT ON audit_log WHEN NEW.action LIKE 'decision.%' BEGIN SELECT RAISE(ABORT, 'boom'); END",
      );
      try {
        expect(() => approve(req.id)).toThrow();
      } finally {
        store.db.sqlite.exec("DROP TRIGGER temp.break_audit");
      }
      expect(store.getRequest(req.id)?.status).toBe("pending");
      expect(store.history("docker.io/library/atomic", {}, T0).items).toEqual([]);
    });
  });
});

describe("attachReport", () => {
  describe("when the same report is attached twice", () => {
    const req = store.createRequest(
      {
        reference: "ruby:3.3",
        repository: "docker.io/library/ruby",
        tag: "3.3",
        requestedBy: "U1",
        source: "slack",
      },
      T0,
    );
    const report = makeReport({ repository: "docker.io/library/ruby", tag: "3.3", digest: digest("ruby") });
    const first = store.attachReport(req.id, report, T0);
    const second = store.attachReport(req.id, report, T0);

    it("stores one report", () => {
      const n = store.db.sqlite
        .prepare("SELECT COUNT(*) AS n FROM reports WHERE digest = ?")
        .get(digest("ruby")) as { n: number };
      expect(n.n).toBe(1);
      expect(second).toEqual(first);
    });

    it("makes the report readable by id", () => {
      expect(store.getReport(first.reportId!)).toEqual(report);
    });
  });

  describe("when the check could not resolve a digest", () => {
    it("fails the request with NO_DIGEST", () => {
      const req = store.createRequest(
        {
          reference: "nope:1",
          repository: "docker.io/library/nope",
          tag: "1",
          requestedBy: "U1",
          source: "cli",
        },
        T0,
      );
      const out = store.attachReport(req.id, makeReport({ digest: null, verdict: "review" }), T0);
      expect(out.status).toBe("failed");
      expect(out.error?.code).toBe("NO_DIGEST");
    });
  });
});

describe("coverByDecision", () => {
  const decisionsOf = (repository: string) =>
    (
      store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM decisions WHERE repository = ?").get(repository) as {
        n: number;
      }
    ).n;

  describe("when the digest has an approval in force", () => {
    const repository = "docker.io/acme/covered";
    const first = checkedRequest(store, { repository, tag: "2" });
    const approval = approve(first.id);
    const later = daysAfter(10);
    const second = checkedRequest(store, { repository, tag: "2", requestedBy: "U_OTHER", now: later });
    const covered = store.coverByDecision(second.id, approval.id, later);

    it("approves the new request on that decision, without a new one", () => {
      expect(covered).toMatchObject({ status: "approved", decisionId: approval.id });
      expect(decisionsOf(repository)).toBe(1);
      expect(store.getDecision(covered.decisionId!, later)).toEqual({ ...approval, status: "approved" });
    });

    it("keeps the approval's expiry (no extension)", () => {
      expect(store.getRequest(second.id, daysAfter(89))?.status).toBe("approved");
      expect(store.getRequest(second.id, daysAfter(90))?.status).toBe("expired");
    });

    it("leaves the pending list", () => {
      const pending = store.pendingRequests({ limit: 500 }).items.map((r) => r.id);
      expect(pending).not.toContain(second.id);
    });

    it("writes an audit entry naming the decision", () => {
      expect(store.audit(second.id).at(-1)).toMatchObject({
        action: "request.covered",
        detail: { decisionId: approval.id, decision: "approved", decidedBy: APPROVER },
      });
    });

    it("is idempotent: running it again changes nothing", () => {
      const trail = store.audit(second.id).length;
      expect(store.coverByDecision(second.id, approval.id, daysAfter(11))).toEqual(covered);
      expect(store.audit(second.id)).toHaveLength(trail);
    });
  });

  describe("when the digest was rejected", () => {
    const repository = "docker.io/acme/refused";
    const first = checkedRequest(store, { repository, tag: "1" });
    const rejection = reject(first.id);
    const second = checkedRequest(store, {
      repository,
      tag: "1",
      verdict: "pass",
      requestedBy: "U_OTHER",
      now: daysAfter(400),
    });
    const covered = store.coverByDecision(second.id, rejection.id, daysAfter(400));
    // Before the requester reopens it and IT decides below (describe bodies run first, in order).
    const autoApproval = codeOf(() => store.autoApprove(second.id, daysAfter(400), 90));
    const decisionsAfterCover = decisionsOf(repository);

    it("rejects the new request on that decision, whatever its verdict", () => {
      expect(covered).toMatchObject({ status: "rejected", decisionId: rejection.id });
      expect(decisionsAfterCover).toBe(1);
    });

    it("refuses a policy approval afterwards", () => {
      expect(autoApproval).toBe("ALREADY_DECIDED");
    });

    describe("and the requester asks IT to reconsider", () => {
      const reopened = store.reopenCovered(second.id, "U_OTHER", "fixed upstream in 1.0.1", daysAfter(401));
      const pendingAfter = store.pendingRequests({ limit: 500 }).items.map((r) => r.id);
      const trail = store.audit(second.id);
      const again = store.reopenCovered(second.id, "U_OTHER", "again", daysAfter(401));
      // As a check job re-run after a crash would try.
      const coverAgain = codeOf(() => store.coverByDecision(second.id, rejection.id, daysAfter(401)));
      const approval = approve(second.id, daysAfter(402));

      it("puts the request back in the pending list with the new reason, on no decision", () => {
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

      it("is idempotent", () => {
        expect(again.reason).toBe("fixed upstream in 1.0.1");
      });

      it("is never settled on the old rejection again (only a person decides it now)", () => {
        expect(coverAgain).toBe("NOT_DECIDABLE");
      });

      it("lets IT decide again, and the new decision supersedes the rejection", () => {
        expect(store.currentDecision(repository, second.digest!, daysAfter(403))?.id).toBe(approval.id);
        expect(store.getRequest(second.id, daysAfter(403))?.decisionId).toBe(approval.id);
      });
    });

    it("refuses to reopen a request rejected on its own decision", () => {
      expect(codeOf(() => store.reopenCovered(first.id, first.requestedBy, "please", daysAfter(401)))).toBe(
        "NOT_DECIDABLE",
      );
    });
  });

  describe("when the decision is not in force for the request", () => {
    const repository = "docker.io/acme/stale";
    const old = checkedRequest(store, { repository, tag: "1" });
    const oldApproval = approve(old.id);
    const other = checkedRequest(store, { repository, tag: "2" });

    it("refuses an approval past its expiry", () => {
      const late = checkedRequest(store, { repository, tag: "1", now: daysAfter(91) });
      expect(codeOf(() => store.coverByDecision(late.id, oldApproval.id, daysAfter(91)))).toBe(
        "NOT_DECIDABLE",
      );
      expect(store.getRequest(late.id)?.status).toBe("pending");
    });

    it("refuses a decision about another digest", () => {
      expect(codeOf(() => store.coverByDecision(other.id, oldApproval.id, T0))).toBe("NOT_DECIDABLE");
    });

    it("refuses a decision that a newer one superseded", () => {
      const again = checkedRequest(store, { repository, tag: "1", now: daysAfter(1) });
      reject(again.id, daysAfter(1));
      const third = checkedRequest(store, { repository, tag: "1", now: daysAfter(2) });
      expect(codeOf(() => store.coverByDecision(third.id, oldApproval.id, daysAfter(2)))).toBe(
        "NOT_DECIDABLE",
      );
    });

    it("refuses a request still being checked, and an unknown decision", () => {
      const checking = store.createRequest(
        { reference: `${repository}:1`, repository, tag: "1", requestedBy: "U1", source: "slack" },
        T0,
      );
      expect(codeOf(() => store.coverByDecision(checking.id, oldApproval.id, T0))).toBe("NOT_DECIDABLE");
      expect(codeOf(() => store.coverByDecision(other.id, "dec_999999", T0))).toBe("NOT_FOUND");
    });

    it("refuses a request that stands on another decision", () => {
      expect(codeOf(() => store.coverByDecision(old.id, oldApproval.id, T0))).toBeUndefined();
      const mine = checkedRequest(store, { repository, tag: "3" });
      const own = approve(mine.id);
      expect(own.id).not.toBe(oldApproval.id);
      expect(codeOf(() => store.coverByDecision(mine.id, oldApproval.id, T0))).toBe("ALREADY_DECIDED");
    });
  });
});
