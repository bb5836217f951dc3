// The durable queue over either engine's job statements (test/worker/queue.test.ts runs it on
// SQLite, test/store/queue.int.test.ts on PostgreSQL).
import { describe, expect, it } from "vitest";
import type { RequestRecord } from "../../../src/store/api.js";
import type { OpenedStore } from "../../../src/store/service.js";
import { CHECK_JOB, enqueueCheck } from "../../../src/worker/check-job.js";
import { openQueue } from "../../../src/worker/queue.js";
import { minutesAfter, T0 } from "../support.js";
import type { FreshStore } from "./engine.js";

const LEASE = 30_000;
const POLICY = "test-policy";
const error = { code: "NETWORK", message: "connection reset" };

/** The queue's behaviour on the engine `fresh` opens. */
export function queueSuite(fresh: FreshStore): void {
  describe("the job queue", async () => {
    const { store } = await fresh();
    const queue = openQueue(store);

    it("is one instance per database, so enqueues wake every worker of the process", async () => {
      expect(openQueue(store)).toBe(queue);
    });

    describe("when a job is enqueued", async () => {
      const { job, created } = await queue.enqueue({ kind: "q.basic", payload: { n: 1 } }, T0);

      it("is queued, due now, with no attempt yet", async () => {
        expect(created).toBe(true);
        expect(job).toMatchObject({
          kind: "q.basic",
          payload: { n: 1 },
          status: "queued",
          attempts: 0,
          availableAt: T0.toISOString(),
        });
      });

      it("is claimed once: a second claim finds nothing", async () => {
        const first = await queue.claim("worker-a", T0, LEASE, ["q.basic"]);
        const second = await queue.claim("worker-b", T0, LEASE, ["q.basic"]);
        expect(first).toMatchObject({ id: job.id, status: "running", attempts: 1, leaseOwner: "worker-a" });
        expect(second).toBeNull();
      });

      it("completes only for its owner", async () => {
        expect(await queue.complete(job.id, "worker-b", "x", T0)).toBe(false);
        expect(await queue.complete(job.id, "worker-a", { ok: true }, T0)).toBe(true);
        expect(await queue.get(job.id)).toMatchObject({
          status: "done",
          result: { ok: true },
          leaseOwner: null,
        });
      });
    });

    describe("with an idempotency key", async () => {
      const first = await queue.enqueue({ kind: "q.key", payload: 1, idempotencyKey: "same" }, T0);
      const second = await queue.enqueue({ kind: "q.key", payload: 2, idempotencyKey: "same" }, T0);

      it("shares the queued job", async () => {
        expect(second.created).toBe(false);
        expect(second.job.id).toBe(first.job.id);
      });

      it("still shares it while it runs", async () => {
        await queue.claim("w", T0, LEASE, ["q.key"]);
        expect((await queue.enqueue({ kind: "q.key", payload: 3, idempotencyKey: "same" }, T0)).job.id).toBe(
          first.job.id,
        );
      });

      it("starts a new job once the first finished", async () => {
        await queue.complete(first.job.id, "w", null, T0);
        const third = await queue.enqueue({ kind: "q.key", payload: 4, idempotencyKey: "same" }, T0);
        expect(third.created).toBe(true);
        expect(third.job.id).not.toBe(first.job.id);
      });
    });

    describe("claiming", () => {
      it("waits for available_at", async () => {
        const { job } = await queue.enqueue(
          { kind: "q.later", payload: null, availableAt: minutesAfter(5) },
          T0,
        );
        expect(await queue.claim("w", minutesAfter(4), LEASE, ["q.later"])).toBeNull();
        expect((await queue.claim("w", minutesAfter(5), LEASE, ["q.later"]))?.id).toBe(job.id);
      });

      it("takes only the kinds asked for", async () => {
        await queue.enqueue({ kind: "q.other", payload: null }, T0);
        expect(await queue.claim("w", T0, LEASE, ["q.none"])).toBeNull();
        expect((await queue.claim("w", T0, LEASE, ["q.other"]))?.kind).toBe("q.other");
      });

      it("takes the oldest due job across the kinds asked for", async () => {
        const later = await queue.enqueue({ kind: "q.mixed-a", payload: null }, minutesAfter(2));
        const oldest = await queue.enqueue({ kind: "q.mixed-b", payload: null }, minutesAfter(1));
        const order = [oldest.job.id, later.job.id];
        const at = minutesAfter(3);
        const claimed: (number | undefined)[] = [];
        for (const _ of order)
          claimed.push((await queue.claim("w", at, LEASE, ["q.mixed-a", "q.mixed-b"]))?.id);
        expect(claimed).toEqual(order);
      });

      it("takes over a running job whose lease expired, and the old owner loses it", async () => {
        const { job } = await queue.enqueue({ kind: "q.crash", payload: null }, T0);
        await queue.claim("dead-worker", T0, LEASE, ["q.crash"]);
        expect(await queue.claim("new-worker", minutesAfter(0.4), LEASE, ["q.crash"])).toBeNull();
        const taken = await queue.claim("new-worker", minutesAfter(1), LEASE, ["q.crash"]);
        expect(taken).toMatchObject({ id: job.id, attempts: 2, leaseOwner: "new-worker" });
        expect(await queue.renew(job.id, "dead-worker", minutesAfter(1), LEASE)).toBe(false);
        expect(await queue.complete(job.id, "dead-worker", null, minutesAfter(1))).toBe(false);
      });

      it("keeps a job whose lease was renewed", async () => {
        const { job } = await queue.enqueue({ kind: "q.renew", payload: null }, T0);
        await queue.claim("w", T0, LEASE, ["q.renew"]);
        expect(await queue.renew(job.id, "w", minutesAfter(0.4), LEASE)).toBe(true);
        expect(await queue.claim("thief", minutesAfter(0.6), LEASE, ["q.renew"])).toBeNull();
      });
    });

    describe("rescheduling", () => {
      it("spends the attempt for an ordinary retry", async () => {
        const { job } = await queue.enqueue({ kind: "q.retry", payload: null }, T0);
        await queue.claim("w", T0, LEASE, ["q.retry"]);
        await queue.reschedule(job.id, "w", error, minutesAfter(1), true, T0);
        expect(await queue.get(job.id)).toMatchObject({
          status: "queued",
          attempts: 1,
          lastError: error,
          availableAt: minutesAfter(1).toISOString(),
        });
      });

      it("gives the attempt back for a Retry-After", async () => {
        const { job } = await queue.enqueue({ kind: "q.429", payload: null }, T0);
        await queue.claim("w", T0, LEASE, ["q.429"]);
        await queue.reschedule(
          job.id,
          "w",
          { code: "TOO_MANY_REQUESTS", message: "slow down" },
          minutesAfter(1),
          false,
          T0,
        );
        expect((await queue.get(job.id))?.attempts).toBe(0);
      });

      it("gives the attempt back when released on shutdown", async () => {
        const { job } = await queue.enqueue({ kind: "q.release", payload: null }, T0);
        await queue.claim("w", T0, LEASE, ["q.release"]);
        expect(await queue.release(job.id, "w", T0)).toBe(true);
        expect(await queue.get(job.id)).toMatchObject({ status: "queued", attempts: 0, leaseOwner: null });
        // ...while keeping a trace that it ran, for handlers with outside effects (a Slack post).
        expect((await queue.get(job.id))?.lastError).toMatchObject({ code: "RELEASED" });
      });

      it("fails for good with the error", async () => {
        const { job } = await queue.enqueue({ kind: "q.fail", payload: null }, T0);
        await queue.claim("w", T0, LEASE, ["q.fail"]);
        await queue.fail(job.id, "w", { code: "NAME_UNKNOWN", message: "no such repository" }, T0);
        expect(await queue.get(job.id)).toMatchObject({
          status: "failed",
          lastError: { code: "NAME_UNKNOWN" },
        });
      });
    });

    describe("nextDueAt", () => {
      it("names the earliest queued job or lease expiry of the kinds", async () => {
        await queue.enqueue({ kind: "q.due", payload: null, availableAt: minutesAfter(10) }, T0);
        await queue.enqueue({ kind: "q.due", payload: null, availableAt: minutesAfter(7) }, T0);
        expect(await queue.nextDueAt(["q.due"])).toBe(minutesAfter(7).toISOString());
        expect(await queue.nextDueAt(["q.nothing"])).toBeNull();
      });
    });
  });

  describe("the fair claim: a user with a check running waits behind other users", () => {
    describe("when one user's checks are queued ahead of another user's (two check workers)", async () => {
      const { store } = await fresh();
      const queue = openQueue(store);
      const enqueue = checkOf(store);
      const a1 = await enqueue("slow-one:1", "U_A", 0);
      const a2 = await enqueue("slow-two:1", "U_A", 1);
      const b1 = await enqueue("nginx:1", "U_B", 2);
      const now = new Date(t0 + 10);

      it("claims the other user's check before the first user's second one, then the rest in order", async () => {
        const first = await queue.claim("w1", now, 60_000, [CHECK_JOB]);
        const second = await queue.claim("w2", now, 60_000, [CHECK_JOB]);
        expect([first?.id, second?.id]).toEqual([a1, b1]);
        await queue.complete(b1, "w2", null, now);
        expect((await queue.claim("w2", now, 60_000, [CHECK_JOB]))?.id).toBe(a2);
      });
    });

    describe("when a worker claims several kinds and the oldest check is a busy user's", async () => {
      const { store } = await fresh();
      const queue = openQueue(store);
      for (const [i, reference] of ["slow-one:1", "slow-two:1"].entries())
        await checkOf(store)(reference, "U_A", i);
      const other = await queue.enqueue({ kind: "recheck", payload: {} }, new Date(t0 + 5));
      const now = new Date(t0 + 10);

      it("takes the newer job of another kind, which no busy requester waits on", async () => {
        await queue.claim("w1", now, 60_000, [CHECK_JOB]);
        expect((await queue.claim("w2", now, 60_000, [CHECK_JOB, "recheck"]))?.id).toBe(other.job.id);
      });
    });

    describe("when another user joined the busy user's queued check", async () => {
      const { store } = await fresh();
      const queue = openQueue(store);
      const enqueue = checkOf(store);
      const a1 = await enqueue("slow-one:1", "U_A", 0);
      const a2 = await enqueue("slow-two:1", "U_A", 1);
      const joined = await enqueue("slow-two:1", "U_B", 2);
      await enqueue("nginx:1", "U_C", 3);
      const now = new Date(t0 + 10);

      it("keeps the shared check's place: one of its requesters has nothing running", async () => {
        expect(joined).toBe(a2);
        expect((await queue.claim("w1", now, 60_000, [CHECK_JOB]))?.id).toBe(a1);
        expect((await queue.claim("w2", now, 60_000, [CHECK_JOB]))?.id).toBe(a2);
      });
    });
  });
}

const t0 = Date.parse("2026-01-01T00:00:00.000Z");

/** Enqueue a check of `reference` for a new request by `requestedBy`, `ms` after t0; its job id. */
function checkOf(store: OpenedStore) {
  return async (reference: string, requestedBy: string, ms: number): Promise<number> => {
    const r = await request(store, reference, requestedBy);
    const out = await enqueueCheck(
      store,
      { requestId: r.id, reference, policyVersion: POLICY },
      new Date(t0 + ms),
    );
    return out.job.id;
  };
}

/** A Slack request for `reference` (`name:tag`) on Docker Hub by `requestedBy`. */
async function request(store: OpenedStore, reference: string, requestedBy: string): Promise<RequestRecord> {
  const [name, tag] = reference.split(":");
  return await store.createRequest(
    { reference, repository: `docker.io/library/${name}`, tag: tag ?? null, requestedBy, source: "slack" },
    new Date(),
  );
}
