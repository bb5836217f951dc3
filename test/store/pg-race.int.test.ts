// Two replicas (two connection pools) on one PostgreSQL store deciding at once: the conditional
// UPDATE ... WHERE status = 'pending' RETURNING lets exactly one of them decide a request, and the
// per-digest advisory lock keeps the rules that read before they write (a standing rejection
// forbids the policy's approval) true across replicas.
import { afterAll, describe, expect, it } from "vitest";
import { StoreError } from "../../src/store/api.js";
import { createPgStore } from "../../src/store/pg-store.js";
import { migratePostgres, openPostgres } from "../../src/store/postgres.js";
import { createDatabase } from "../support/postgres.js";
import { checkedRequest, digest, T0 } from "./support.js";

const ROUNDS = 10;

describe("two replicas deciding the same request at once on PostgreSQL", async () => {
  const url = await createDatabase("race");
  await migratePostgres(url);
  const [one, two] = [createPgStore(openPostgres(url)), createPgStore(openPostgres(url))];
  afterAll(async () => {
    await one.close();
    await two.close();
  });

  it("store exactly one decision and refuse the other with ALREADY_DECIDED, every round", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `docker.io/library/race${i}`;
      const req = await checkedRequest(one, { repository });
      const decide = (store: typeof one, decidedBy: string, decision: "approved" | "rejected") =>
        store.decide({ requestId: req.id, decision, decidedBy, isApprover: true, now: T0, expireDays: 90 });
      const outcomes = await Promise.allSettled([
        decide(one, "U_APPROVER_A", "approved"),
        decide(two, "U_APPROVER_B", "rejected"),
      ]);
      const won = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeInstanceOf(StoreError);
      expect((lost[0] as StoreError).code).toBe("ALREADY_DECIDED");
      const history = await two.history(repository, {}, T0);
      expect(history.items).toHaveLength(1);
      expect((await one.getRequest(req.id))?.status).toBe(history.items[0]!.decision);
      const decided = (await one.audit(req.id)).filter((e) => e.action.startsWith("decision."));
      expect(decided).toHaveLength(1);
    }
  });

  it("never let the policy approve a digest over a rejection committed at the same time, every round", async () => {
    // Replica one rejects a request for the digest while replica two settles another request for
    // it, a pass the policy would approve. Either order is fine (approved then rejected, or
    // rejected then covered), but the rejection must stand in the end: the policy reads the
    // standing decision and writes its approval under the digest's lock.
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `docker.io/library/settle${i}`;
      const d = digest(`settle${i}`);
      const review = await checkedRequest(one, { repository, tag: "a", digest: d, requestedBy: "U_DEV_A" });
      const pass = await checkedRequest(one, {
        repository,
        tag: "b",
        digest: d,
        verdict: "pass",
        requestedBy: "U_DEV_B",
      });
      await Promise.all([
        one.decide({
          requestId: review.id,
          decision: "rejected",
          decidedBy: "U_IT",
          isApprover: true,
          now: T0,
          expireDays: 90,
        }),
        two.settle(pass.id, T0, { autoApprovePass: true, expireDays: 90 }),
      ]);
      expect((await one.currentDecision(repository, d, T0))?.decision).toBe("rejected");
      expect((await two.standingDecision(d, T0))?.requestId).toBe(review.id);
    }
  });
});
