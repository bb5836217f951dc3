// The store side of watch over the real migrations: enrolment, what is due, retirement,
// idempotent recording, and revocation as the decisions listing shows it.
import { describe, expect, it } from "vitest";
import { readDecisions } from "../../src/cli/decisions.js";
import { openWatchStore, RETIRED } from "../../src/store/watch.js";
import { checkedRequest, daysAfter, digest, freshStore, T0 } from "./support.js";

const REPO = "registry.test/team/app";
const HOURS = 24;

async function approved(store: ReturnType<typeof freshStore>, name: string, at = T0, expireDays = 90) {
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

const hoursAfter = (h: number) => new Date(T0.getTime() + h * 3_600_000);

describe("the watch store", () => {
  describe("when approvals were decided", () => {
    it("makes each due one interval after its decision, oldest first, rejections never", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
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
      expect(await ws.schedule(hoursAfter(23), { intervalHours: HOURS, limit: 10 })).toEqual([]);
      expect(await ws.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 10 })).toEqual([
        { decisionId: a.id, dueAt: hoursAfter(24).toISOString() },
        { decisionId: b.id, dueAt: hoursAfter(26).toISOString() },
      ]);
      expect(await ws.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 1 })).toHaveLength(1);
      expect(await ws.watchedCount()).toBe(2);
    });
  });

  describe("when an approval expired before it was ever scheduled", () => {
    it("is never enrolled", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
      const a = await approved(store, "a", T0, 1);
      expect(await ws.schedule(daysAfter(2), { intervalHours: HOURS, limit: 10 })).toEqual([]);
      expect(await ws.get(a.id)).toBeNull();
    });
  });

  describe("when an approval is retired", () => {
    it("is never due again", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
      const a = await approved(store, "a");
      expect(await ws.schedule(hoursAfter(1), { intervalHours: HOURS, limit: 10 })).toEqual([]);
      await ws.retire(a.id, hoursAfter(2));
      expect((await ws.get(a.id))?.dueAt).toBe(RETIRED);
      expect(await ws.schedule(daysAfter(200), { intervalHours: HOURS, limit: 10 })).toEqual([]);
      expect(await ws.watchedCount()).toBe(0);
    });
  });

  describe("when a re-check is recorded", () => {
    it("moves the next one an interval on, and a second record of the same due time writes nothing", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
      const a = await approved(store, "a");
      const [due] = await ws.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
      const changes = [{ id: "tag.moved", severity: "medium", title: "moved" }];
      const result = {
        ...due!,
        now: hoursAfter(25),
        intervalHours: HOURS,
        finished: true,
        changes,
        notified: true,
      };
      expect(await ws.recordRecheck(result)).toBe(true);
      expect(await ws.recordRecheck(result)).toBe(false);
      expect(await ws.get(a.id)).toMatchObject({
        dueAt: hoursAfter(49).toISOString(),
        lastCheckedAt: hoursAfter(25).toISOString(),
        changes,
      });
      expect((await ws.get(a.id))?.notifiedKey).toMatch(/^[0-9a-f]{32}$/);
      expect((await ws.flagged(10)).map((f) => f.decisionId)).toEqual([a.id]);
      expect(await ws.schedule(hoursAfter(26), { intervalHours: HOURS, limit: 10 })).toEqual([]);
    });
  });

  describe("when a re-check revokes the approval", () => {
    it("reads revoked, decided by watch with the reason, and is no longer watched or covering", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
      const a = await approved(store, "a");
      const [due] = await ws.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
      await ws.recordRecheck({
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
      expect(await ws.watchedCount()).toBe(0);
      expect(await ws.flagged(10)).toEqual([]);
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

    it("shows in decisions --status revoked as JSON rows", async () => {
      const store = freshStore();
      const ws = openWatchStore(store.db);
      await approved(store, "a");
      const [due] = await ws.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10 });
      await ws.recordRecheck({
        ...due!,
        now: hoursAfter(25),
        intervalHours: HOURS,
        finished: true,
        changes: [],
        revoke: { reason: "x" },
      });
      const rows = await readDecisions(store.db.path, { status: "revoked" }, 10, hoursAfter(26));
      expect(rows.map((r) => [r.status, r.decidedBy, r.reason])).toEqual([["revoked", "watch", "x"]]);
    });
  });
});
