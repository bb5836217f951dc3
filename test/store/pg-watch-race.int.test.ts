// Two replicas (two connection pools) running watch on one PostgreSQL store: scheduling at once
// enrols each approval once (INSERT ... ON CONFLICT DO NOTHING), an approval whose transaction
// commits late is still enrolled, and of two replicas recording the same re-check exactly one
// records it (UPDATE ... WHERE due_at = the job's due time).
import { afterAll, describe, expect, it } from "vitest";
import { decisionSeq } from "../../src/store/decisions.js";
import { openPostgres } from "../../src/store/postgres.js";
import { migratedPgDatabase, pgStoreParts } from "./pg-support.js";
import { countOf } from "./suites/engine.js";
import { approved, hoursAfter } from "./suites/watch.js";
import { checkedRequest, digest, T0 } from "./support.js";

const ROUNDS = 10;
const PER_ROUND = 20;
const HOURS = 24;

describe("two replicas running watch on one PostgreSQL store", async () => {
  const url = await migratedPgDatabase("watch_race");
  const [one, two] = [pgStoreParts(openPostgres(url)), pgStoreParts(openPostgres(url))];
  afterAll(async () => {
    await one.store.close();
    await two.store.close();
  });

  it("enrol each approval once when they schedule at the same time, every round", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const decided = [];
      for (let i = 0; i < PER_ROUND; i++) decided.push(await approved(one.store, `enrol${round}-${i}`));
      const opts = { intervalHours: HOURS, limit: 10_000 };
      const [dueOne, dueTwo] = await Promise.all([
        one.watch.schedule(hoursAfter(1), opts),
        two.watch.schedule(hoursAfter(1), opts),
      ]);
      expect([dueOne, dueTwo]).toEqual([[], []]);
      expect(await countOf(one, "SELECT COUNT(*) AS n FROM watch_state")).toBe((round + 1) * PER_ROUND);
      for (const d of decided)
        expect((await two.watch.get(d.id))?.dueAt).toBe(hoursAfter(HOURS).toISOString());
    }
  });

  it("enrol an approval whose transaction commits after a later approval was enrolled", async () => {
    const early = await checkedRequest(one.store, { tag: "early", digest: digest("early") });
    const late = await checkedRequest(one.store, { tag: "late", digest: digest("late") });
    const decide = (store: typeof one.store, requestId: string) =>
      store.decide({
        requestId,
        decision: "approved",
        decidedBy: "U_IT",
        isApprover: true,
        now: T0,
        expireDays: 90,
      });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let decidedInside = () => {};
    const inside = new Promise<void>((resolve) => {
      decidedInside = resolve;
    });
    // Replica one decides first (the lower seq) but keeps its transaction open...
    const slow = one.store.transaction(async () => {
      const d = await decide(one.store, early.id);
      decidedInside();
      await held;
      return d;
    });
    await inside;
    // ...while replica two decides (the higher seq), commits, and schedules.
    const fast = await decide(two.store, late.id);
    await two.watch.schedule(hoursAfter(1), { intervalHours: HOURS, limit: 10 });
    expect(await two.watch.get(fast.id)).not.toBeNull();
    release();
    const first = await slow;
    expect(decisionSeq(first.id)!).toBeLessThan(decisionSeq(fast.id)!);
    expect(await two.watch.get(first.id)).toBeNull();
    await two.watch.schedule(hoursAfter(1), { intervalHours: HOURS, limit: 10 });
    expect((await two.watch.get(first.id))?.dueAt).toBe(hoursAfter(HOURS).toISOString());
  });

  it("record a re-check once when both record the same due time, with one revocation and one audit entry", async () => {
    const decided = [];
    for (let i = 0; i < ROUNDS; i++) decided.push(await approved(one.store, `revoke${i}`));
    const ids = new Set(decided.map((d) => d.id));
    const due = (await one.watch.schedule(hoursAfter(25), { intervalHours: HOURS, limit: 10_000 })).filter(
      (d) => ids.has(d.decisionId),
    );
    expect(due).toHaveLength(ROUNDS);
    // Every pair at once: twenty transactions over the two pools.
    const outcomes = await Promise.all(
      due.map((d) => {
        const result = {
          ...d,
          now: hoursAfter(25),
          intervalHours: HOURS,
          finished: true,
          changes: [{ id: "trust.signature-invalid", severity: "critical", title: "broken" }],
          revoke: { reason: "trust.signature-invalid (critical): broken" },
        };
        return Promise.all([one.watch.recordRecheck(result), two.watch.recordRecheck(result)]);
      }),
    );
    for (const pair of outcomes) expect(pair.filter(Boolean)).toHaveLength(1);
    for (const d of decided) {
      const revocations = (await two.store.audit(d.requestId)).filter((e) => e.action === "decision.revoked");
      expect(revocations).toHaveLength(1);
      expect((await one.store.getDecision(d.id, hoursAfter(26)))?.status).toBe("revoked");
    }
  });
});
