// The store side of watch (enrolment, what is due, retirement, idempotent recording, revocation as
// the store's decisions show it) as a suite any engine runs: test/store/watch.test.ts (SQLite) and
// test/store/watch.int.test.ts (PostgreSQL). Each case opens its own store: a schedule is global.
import { describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/api.js";
import { RETIRED } from "../../../src/store/watch.js";
import { checkedRequest, daysAfter, digest, T0 } from "../support.js";
import type { FreshStoreParts } from "./engine.js";

const REPO = "registry.test/team/app";
const HOURS = 24;

/** `T0` plus `h` hours. */
export const hoursAfter = (h: number): Date => new Date(T0.getTime() + h * 3_600_000);

/** An approved request for `REPO:name`, decided at `at`, expiring after `expireDays`. */
export async function approved(store: Store, name: string, at = T0, expireDays = 90) {
  const req = await checkedRequest(store, { repository: REPO, tag: name, digest: digest(name), now: at });
  return await store.decide({
    requestId: req.id,
    decision: "approved",
    decidedBy: "U_IT",
    isApprover: true,
    now: at,
    expireDays,
  });
}

/** The watch store suite over the stores `fresh` opens. */
export function watchSuite(fresh: FreshStoreParts): void {
  describe("the watch store", () => {
    describe("when approvals were decided", async () => {
      const { store, watch } = await fresh();

      it("makes each due one interval after its decision, oldest first, rejections never", async () => {
        const a = await approved(store, "a");
        const b = await approved(store, "b", hoursAfter(2));
        const r = await checkedRequest(store, { repository: REPO, tag: "r", digest: digest("r") });
        await store.decide({
          requestId: r.id,
          decision: "rejected",
          decidedBy: "U_IT",
          isApprover: true,
          now: T0,
          expireDays: 90,
        });
        expect(await watch.schedule(hoursAfter(23), { intervalHours: HOURS, limit: 10 })).toEqual([]);
        expect(await watch.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 10 })).toEqual([
          { decisionId: a.id, dueAt: hoursAfter(24).toISOString() },
          { decisionId: b.id, dueAt: hoursAfter(26).toISOString() },
        ]);
        expect(await watch.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 1 })).toHaveLength(1);
        expect(await watch.watchedCount()).toBe(2);
      });
    });

    describe("when an approval expired before it was ever scheduled", async () => {
      const { store, watch } = await fresh();

      it("is never enrolled", async () => {
        const a = await approved(store, "a", T0, 1);
        expect(await watch.schedule(daysAfter(2), { intervalHours: HOURS, limit: 10 })).toEqual([]);
        expect(await watch.get(a.id)).toBeNull();
      });
    });

    describe("when an approval is retired", async () => {
      const { store, watch } = await fresh();

      it("is never due again", async () => {
        const a = await approved(store, "a");
        expect(await watch.schedule(hoursAfter(1), { intervalHours: HOURS, limit: 10 })).toEqual([]);
        await watch.retire(a.id, hoursAfter(2));
        expect((await watch.get(a.id))?.dueAt).toBe(RETIRED);
        expect(await watch.schedule(daysAfter(200), { intervalHours: HOURS, limit: 10 })).toEqual([]);
        expect(await watch.watchedCount()).toBe(0);
      });
    });

    describe("when a decision id is not one the store handed out", async () => {
      const { watch } = await fresh();

      it("has no watch row, and recording a re-check of it writes nothing", async () => {
        expect(await watch.get("dec_x")).toBeNull();
        expect(
          await watch.recordRecheck({
            decisionId: "dec_x",
            dueAt: T0.toISOString(),
            now: T0,
            intervalHours: HOURS,
            finished: true,
            changes: [],
          }),
        ).toBe(false);
      });
    });

    describe("when a re-check is recorded", async () => {
      const { store, watch } = await fresh();

      it("moves the next one an interval on, and a second record of the same due time writes nothing", async () => {
        const a = await approved(store, "a");
        const [due] = await watch.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
        const changes = [{ id: "tag.moved", severity: "medium", title: "moved" }];
        const result = {
          ...due!,
          now: hoursAfter(25),
          intervalHours: HOURS,
          finished: true,
          changes,
          reportId: "rep_later",
          notified: true,
        };
        expect(await watch.recordRecheck(result)).toBe(true);
        expect(await watch.recordRecheck(result)).toBe(false);
        expect(await watch.get(a.id)).toMatchObject({
          dueAt: hoursAfter(49).toISOString(),
          lastCheckedAt: hoursAfter(25).toISOString(),
          lastReportId: "rep_later",
          changes,
        });
        expect((await watch.get(a.id))?.notifiedKey).toMatch(/^[0-9a-f]{32}$/);
        expect((await watch.flagged(10)).map((f) => f.decisionId)).toEqual([a.id]);
        expect(await watch.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 10 })).toEqual([]);
      });
    });

    describe("when a re-check could not finish", async () => {
      const { store, watch } = await fresh();

      it("schedules the next one and records nothing about the image", async () => {
        const a = await approved(store, "a");
        const [due] = await watch.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
        const recorded = await watch.recordRecheck({
          ...due!,
          now: hoursAfter(25),
          intervalHours: HOURS,
          finished: false,
          changes: [{ id: "tag.moved", severity: "medium", title: "moved" }],
          expiryAnnounced: true,
        });
        expect(recorded).toBe(true);
        expect(await watch.get(a.id)).toMatchObject({
          dueAt: hoursAfter(49).toISOString(),
          lastCheckedAt: null,
          changes: null,
          expiryAnnouncedAt: hoursAfter(25).toISOString(),
        });
        expect(await watch.flagged(10)).toEqual([]);
      });
    });

    describe("when a re-check revokes the approval", async () => {
      const { store, watch } = await fresh();

      it("reads revoked, decided by watch with the reason, and is no longer watched or covering", async () => {
        const a = await approved(store, "a");
        const [due] = await watch.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
        await watch.recordRecheck({
          ...due!,
          now: hoursAfter(25),
          intervalHours: HOURS,
          finished: true,
          changes: [{ id: "trust.signature-invalid", severity: "critical", title: "broken" }],
          revoke: { reason: "trust.signature-invalid (critical): broken" },
        });
        const d = (await store.getDecision(a.id, hoursAfter(26)))!;
        expect(d).toMatchObject({ status: "revoked", decidedBy: "watch", decision: "approved" });
        expect(d.reason).toContain("trust.signature-invalid");
        expect(
          (await store.listDecisions({ status: "revoked" }, hoursAfter(26))).items.map((x) => x.id),
        ).toEqual([a.id]);
        expect((await store.listDecisions({ status: "approved" }, hoursAfter(26))).items).toEqual([]);
        expect(await watch.watchedCount()).toBe(0);
        expect(await watch.flagged(10)).toEqual([]);
        const again = await checkedRequest(store, {
          repository: REPO,
          tag: "a",
          digest: digest("a"),
          now: hoursAfter(26),
        });
        await expect(async () => await store.coverByDecision(again.id, a.id, hoursAfter(26))).rejects.toThrow(
          expect.objectContaining({ code: "NOT_DECIDABLE" }),
        );
        expect((await store.audit(a.requestId)).map((e) => [e.actor, e.action])).toContainEqual([
          "watch",
          "decision.revoked",
        ]);
      });
    });

    describe("when a re-check is recorded inside a transaction that fails", async () => {
      const { store, watch } = await fresh();

      it("rolls back with it, so the same re-check can be recorded again", async () => {
        const a = await approved(store, "a");
        const [due] = await watch.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
        const result = { ...due!, now: hoursAfter(25), intervalHours: HOURS, finished: true, changes: [] };
        await expect(
          watch.transaction(async () => {
            expect(await watch.recordRecheck(result)).toBe(true);
            throw new Error("the caller's next write failed");
          }),
        ).rejects.toThrow("the caller's next write failed");
        expect((await watch.get(a.id))?.dueAt).toBe(hoursAfter(24).toISOString());
        expect(await watch.recordRecheck(result)).toBe(true);
      });
    });
  });
}
