// A suite any engine runs: test/store/standing-decisions.test.ts (SQLite) and
// test/store/standing-decisions.int.test.ts (PostgreSQL).
// The approval rules across names (issue 8, items 1 and 2): a person's decision stands for the
// digest whatever name it is asked under, and nobody's request is settled on their own decision.
import { describe, expect, it } from "vitest";
import { StoreError } from "../../../src/store/api.js";
import { checkedRequest, daysAfter, digest, makeReport, T0 } from "../support.js";
import type { FreshStore } from "./engine.js";

const IT = "U_IT";

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return (err as StoreError).code;
  }
  return undefined;
}

/** The names one manifest is asked under: the registry's host spelled five ways, and a copy. */
const SAME_MANIFEST: [string, string][] = [
  ["the name it was rejected under", "127.0.0.1:5000/test/plain"],
  ["a shortened IPv4 host", "127.1:5000/test/plain"],
  ["a decimal IPv4 host", "2130706433:5000/test/plain"],
  ["a hex IPv4 host", "0x7f.1:5000/test/plain"],
  ["an octal IPv4 host", "0177.0.0.1:5000/test/plain"],
  ["an IPv4-mapped IPv6 host", "[::ffff:127.0.0.1]:5000/test/plain"],
  ["another repository holding the same manifest", "127.0.0.1:5000/test/plaincopy"],
];

/** The suite over the stores `fresh` opens. */
export function standingDecisionsSuite(fresh: FreshStore): void {
  describe("a person's decision on a digest", () => {
    describe("when a digest was rejected under one name", async () => {
      const { store } = await fresh();
      const d = digest("plain-1.0");
      const asked = await checkedRequest(store, {
        repository: "127.0.0.1:5000/test/plain",
        tag: "1.0",
        digest: d,
      });
      const rejection = await store.decide({
        requestId: asked.id,
        decision: "rejected",
        decidedBy: IT,
        isApprover: true,
        reason: "ships a cryptominer",
        now: T0,
        expireDays: 90,
      });

      for (const [name, repository] of SAME_MANIFEST) {
        describe(`and asked for again under ${name}`, async () => {
          const later = daysAfter(1);
          const again = await checkedRequest(store, {
            repository,
            tag: "9.9",
            digest: d,
            verdict: "pass",
            requestedBy: "U_OTHER",
            now: later,
          });

          it("is the digest's standing decision", async () => {
            expect(await store.standingDecision(d, later)).toEqual(rejection);
            expect(await store.currentDecision(repository, d, later)).toEqual(rejection);
          });

          it("is never approved by the policy, even when it passes", async () => {
            expect(await codeOf(async () => await store.autoApprove(again.id, later, 90))).toBe(
              "NOT_DECIDABLE",
            );
            expect(
              await store.settle(again.id, later, { autoApprovePass: true, expireDays: 90 }),
            ).toMatchObject({
              status: "rejected",
              decisionId: rejection.id,
            });
          });
        });
      }

      it("is not overridden by a CLI run's pass under another name", async () => {
        const report = makeReport({
          repository: "127.0.0.1:5000/test/plaincopy",
          tag: "9.9",
          digest: d,
          verdict: "pass",
        });
        const out = await store.recordCliReport(
          { ...report, reference: "0x7f.1:5000/test/plaincopy:9.9" },
          daysAfter(2),
          {
            requestedBy: "cli:dev",
            approvals: { autoApprovePass: true, expireDays: 90 },
          },
        );
        expect(out.request).toBeNull();
        expect((await store.listDecisions({ digest: d }, daysAfter(2))).items).toEqual([rejection]);
      });
    });

    describe("when the requester made the decision in force (two-person rule)", async () => {
      const { store } = await fresh();
      const d = digest("two-person");
      const users = await checkedRequest(store, {
        repository: "docker.io/acme/app",
        tag: "1",
        digest: d,
        requestedBy: "U_USER",
      });
      const approval = await store.decide({
        requestId: users.id,
        decision: "approved",
        decidedBy: "U_A",
        isApprover: true,
        now: T0,
        expireDays: 90,
      });
      const own = await checkedRequest(store, {
        repository: "docker.io/acme/app",
        tag: "1",
        digest: d,
        requestedBy: "U_A",
        now: daysAfter(1),
      });

      it("does not settle the approver's own request on their approval", async () => {
        expect(await codeOf(async () => await store.coverByDecision(own.id, approval.id, daysAfter(1)))).toBe(
          "NOT_DECIDABLE",
        );
        expect(await store.settle(own.id, daysAfter(1))).toMatchObject({
          status: "pending",
          decisionId: null,
        });
        expect((await store.pendingRequests({})).items.map((r) => r.id)).toEqual([own.id]);
      });

      it("still settles anyone else's request on it", async () => {
        const other = await checkedRequest(store, {
          repository: "docker.io/acme/app",
          tag: "1",
          digest: d,
          requestedBy: "U_B",
          now: daysAfter(1),
        });
        expect(await store.settle(other.id, daysAfter(1))).toMatchObject({
          status: "approved",
          decisionId: approval.id,
        });
      });

      it("leaves the approver's own request for another approver, never for themselves", async () => {
        const decide = async (decidedBy: string) =>
          await store.decide({
            requestId: own.id,
            decision: "approved",
            decidedBy,
            isApprover: true,
            now: daysAfter(1),
            expireDays: 90,
          });
        expect(await codeOf(() => decide("U_A"))).toBe("SELF_DECISION");
        expect(await decide("U_B")).toMatchObject({ decidedBy: "U_B", requestedBy: "U_A" });
      });

      it("does not settle a rejecter's own request on their rejection, nor let the policy approve it", async () => {
        const e = digest("two-person-rejected");
        const first = await checkedRequest(store, { repository: "docker.io/acme/tool", tag: "1", digest: e });
        await store.decide({
          requestId: first.id,
          decision: "rejected",
          decidedBy: "U_A",
          isApprover: true,
          now: T0,
          expireDays: 90,
        });
        const own = await checkedRequest(store, {
          repository: "docker.io/acme/tool",
          tag: "1",
          digest: e,
          verdict: "pass",
          requestedBy: "U_A",
          now: daysAfter(1),
        });
        expect(
          await store.settle(own.id, daysAfter(1), { autoApprovePass: true, expireDays: 90 }),
        ).toMatchObject({
          status: "pending",
          decisionId: null,
        });
      });
    });
  });

  describe("the store's keys", () => {
    describe("when a request names its registry in another spelling", async () => {
      const { store } = await fresh();
      const req = await checkedRequest(store, { repository: "0X7F.1:5000/test/plain", tag: "1.0" });

      it("files it under the canonical repository", async () => {
        expect(req.repository).toBe("127.0.0.1:5000/test/plain");
      });

      it("finds it by any spelling in status, history, decisions and tag observations", async () => {
        await store.recordTagObservation("2130706433:5000/test/plain", "1.0", req.digest!, T0);
        await store.decide({
          requestId: req.id,
          decision: "approved",
          decidedBy: IT,
          isApprover: true,
          now: T0,
          expireDays: 90,
        });
        for (const name of [
          "127.0.0.1:5000/test/plain",
          "127.1:5000/test/plain",
          "[::ffff:7f00:1]:5000/test/plain",
        ]) {
          expect((await store.statusOf(name, { tag: "1.0" }, T0)).request?.id).toBe(req.id);
          expect((await store.history(name, {}, T0)).items).toHaveLength(1);
          expect((await store.listDecisions({ repository: name }, T0)).items).toHaveLength(1);
          expect(await store.lastKnownDigest(name, "1.0")).toBe(req.digest);
        }
      });

      it("drops the default https port and folds Docker Hub's names", async () => {
        const hub = await checkedRequest(store, {
          repository: "registry.hub.docker.com:443/library/redis",
          tag: "7",
        });
        expect(hub.repository).toBe("docker.io/library/redis");
      });
    });
  });
}
