import { afterEach, describe, expect, it } from "vitest";
import { CodedError } from "../../src/errors.js";
import { openQueue } from "../../src/worker/queue.js";
import type { JobContext, JobRecord, Worker, WorkerEvent } from "../../src/worker/types.js";
import { startWorker, type WorkerOptions } from "../../src/worker/worker.js";
import { freshStore } from "../store/support.js";

const store = freshStore();
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});

/** A worker on the test store; pollMs is an hour, so only enqueue wake-ups and due times drive it. */
function worker(opts: Partial<WorkerOptions> & Pick<WorkerOptions, "handlers">): Worker {
  const w = startWorker({ store, pollMs: 3_600_000, backoff: { baseMs: 5, maxMs: 20 }, ...opts });
  workers.push(w);
  return w;
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once the worker emitted an event matching `pred`. */
function eventOf(events: WorkerEvent[], pred: (e: WorkerEvent) => boolean): Promise<WorkerEvent> {
  return new Promise((resolve) => {
    const tick = () => {
      const hit = events.find(pred);
      if (hit) resolve(hit);
      else setTimeout(tick, 5);
    };
    tick();
  });
}

class TestError extends CodedError<string> {
  constructor(
    code: string,
    readonly retryAfterMs?: number,
  ) {
    super(code, `test error ${code}`);
  }
}

describe("the worker", () => {
  describe("when a job is enqueued in the same process", () => {
    it("runs it without waiting for the poll interval", async () => {
      const ran = deferred<unknown>();
      const w = worker({ handlers: { "w.wake": async (payload) => ran.resolve(payload) } });
      await w.idle();
      await w.queue.enqueue({ kind: "w.wake", payload: { hello: "world" } }, new Date());
      expect(await ran.promise).toEqual({ hello: "world" });
    });

    it("is not woken by jobs of kinds it does not handle", async () => {
      const w = worker({ handlers: { "w.mine": async () => "ran" } });
      await w.idle();
      const queue = openQueue(store);
      const claim = queue.claim.bind(queue);
      let claims = 0;
      queue.claim = (...args) => {
        claims++;
        return claim(...args);
      };
      try {
        for (let i = 0; i < 5; i++) await w.queue.enqueue({ kind: "w.theirs", payload: i }, new Date());
        await new Promise((r) => setTimeout(r, 20));
        expect(claims).toBe(0);
        await w.queue.enqueue({ kind: "w.mine", payload: null }, new Date());
        await w.idle();
        expect(claims).toBeGreaterThan(0);
      } finally {
        queue.claim = claim;
      }
    });

    it("stores the handler's result and marks the job done", async () => {
      const events: WorkerEvent[] = [];
      const w = worker({
        handlers: { "w.result": async () => ({ answer: 42 }) },
        onEvent: (e) => events.push(e),
      });
      const { job } = await w.queue.enqueue({ kind: "w.result", payload: null }, new Date());
      await eventOf(events, (e) => e.type === "done");
      expect(await w.queue.get(job.id)).toMatchObject({
        status: "done",
        attempts: 1,
        result: { answer: 42 },
      });
    });
  });

  describe("with a concurrency limit", () => {
    it("never runs more jobs at once than the limit", async () => {
      let runningNow = 0;
      let most = 0;
      const gates = Array.from({ length: 5 }, () => deferred());
      const started: number[] = [];
      const w = worker({
        concurrency: 2,
        handlers: {
          "w.limit": async (payload) => {
            const i = payload as number;
            runningNow++;
            most = Math.max(most, runningNow);
            started.push(i);
            await gates[i]!.promise;
            runningNow--;
          },
        },
      });
      for (let i = 0; i < 5; i++) await w.queue.enqueue({ kind: "w.limit", payload: i }, new Date());
      // Release the jobs one at a time as they start, until all five ran.
      for (let released = 0; released < 5; released++) {
        while (started.length <= released) await new Promise((r) => setTimeout(r, 5));
        gates[started[released]!]!.resolve();
      }
      await w.idle();
      expect(started.sort()).toEqual([0, 1, 2, 3, 4]);
      expect(most).toBe(2);
    });
  });

  describe("when a job takes longer than its timeout", () => {
    it("aborts its signal with TIMEOUT and retries it", async () => {
      const reasons: unknown[] = [];
      const attempts: number[] = [];
      const w = worker({
        jobTimeoutMs: 50,
        handlers: {
          "w.slow": (_p, ctx: JobContext) => {
            attempts.push(ctx.attempt);
            if (ctx.attempt > 1) return Promise.resolve("second time lucky");
            return new Promise((_resolve, reject) =>
              ctx.signal.addEventListener("abort", () => {
                reasons.push(ctx.signal.reason);
                reject(ctx.signal.reason);
              }),
            );
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.slow", payload: null }, new Date());
      while ((await w.queue.get(job.id))?.status !== "done") await w.idle();
      expect(attempts).toEqual([1, 2]);
      expect(reasons).toEqual([expect.objectContaining({ code: "TIMEOUT" })]);
    });

    it("frees the slot even when the handler ignores its signal", async () => {
      const w = worker({
        concurrency: 1,
        jobTimeoutMs: 30,
        handlers: { "w.deaf": () => new Promise(() => {}), "w.next": async () => "ok" },
      });
      const { job: deaf } = await w.queue.enqueue(
        { kind: "w.deaf", payload: null, maxAttempts: 1 },
        new Date(),
      );
      const { job: next } = await w.queue.enqueue({ kind: "w.next", payload: null }, new Date());
      while ((await w.queue.get(next.id))?.status !== "done") await w.idle();
      expect(await w.queue.get(deaf.id)).toMatchObject({ status: "failed", lastError: { code: "TIMEOUT" } });
    });
  });

  describe("when a handler fails with a temporary error", () => {
    it("retries with backoff until it succeeds", async () => {
      let calls = 0;
      const w = worker({
        handlers: {
          "w.flaky": async () => {
            calls++;
            if (calls < 3) throw new TestError("NETWORK");
            return "ok";
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.flaky", payload: null }, new Date());
      while ((await w.queue.get(job.id))?.status !== "done") await w.idle();
      expect(calls).toBe(3);
      expect(await w.queue.get(job.id)).toMatchObject({ attempts: 3, lastError: { code: "NETWORK" } });
    });

    it("fails the job once its attempts are spent, calling onFailed once", async () => {
      const failed: unknown[] = [];
      const w = worker({
        handlers: {
          "w.down": {
            run: async () => {
              throw new TestError("SERVER_ERROR");
            },
            onFailed: (_payload, error) => {
              failed.push(error);
            },
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.down", payload: null, maxAttempts: 3 }, new Date());
      while ((await w.queue.get(job.id))?.status !== "failed") await w.idle();
      expect(await w.queue.get(job.id)).toMatchObject({ attempts: 3, lastError: { code: "SERVER_ERROR" } });
      expect(failed).toEqual([expect.objectContaining({ code: "SERVER_ERROR" })]);
    });

    it("reschedules a 429 with Retry-After without spending an attempt", async () => {
      let calls = 0;
      const events: WorkerEvent[] = [];
      const w = worker({
        onEvent: (e) => events.push(e),
        handlers: {
          "w.429": async () => {
            calls++;
            if (calls <= 3) throw new TestError("TOO_MANY_REQUESTS", 10);
            return "ok";
          },
        },
      });
      // Two attempts only: three 429s would exhaust them if they counted.
      const { job } = await w.queue.enqueue({ kind: "w.429", payload: null, maxAttempts: 2 }, new Date());
      while ((await w.queue.get(job.id))?.status !== "done") await w.idle();
      expect(calls).toBe(4);
      expect((await w.queue.get(job.id))?.attempts).toBe(1);
      const retries = events.filter((e) => e.type === "retry");
      expect(retries.map((e) => e.type === "retry" && e.spentAttempt)).toEqual([false, false, false]);
    });
  });

  describe("when a handler fails with a permanent error", () => {
    it("fails the job at once", async () => {
      let calls = 0;
      const w = worker({
        handlers: {
          "w.perm": async () => {
            calls++;
            throw new TestError("NAME_UNKNOWN");
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.perm", payload: null }, new Date());
      while ((await w.queue.get(job.id))?.status !== "failed") await w.idle();
      expect(calls).toBe(1);
      expect((await w.queue.get(job.id))?.lastError?.code).toBe("NAME_UNKNOWN");
    });
  });

  describe("while a job runs", () => {
    it("renews its lease, so another worker does not take it", async () => {
      const leases = new Set<string>();
      let runs = 0;
      const owner = "renewing-worker";
      const w = worker({
        owner,
        leaseMs: 300,
        handlers: {
          "w.long": async (_p, ctx) => {
            runs++;
            // Run until the lease was renewed three times, however long that takes.
            while (leases.size < 4) {
              const lease = (await w.queue.get(ctx.job.id))?.leaseExpiresAt;
              if (lease) leases.add(lease);
              await new Promise((r) => setTimeout(r, 20));
            }
          },
        },
      });
      const thief = worker({ owner: "thief", pollMs: 20, handlers: { "w.long": async () => void runs++ } });
      const { job } = await w.queue.enqueue({ kind: "w.long", payload: null }, new Date());
      while ((await w.queue.get(job.id))?.status !== "done") await w.idle();
      await thief.idle();
      expect(runs).toBe(1);
      expect(await w.queue.get(job.id)).toMatchObject({ attempts: 1, status: "done" });
    });

    it("aborts the job with LEASE_LOST when another worker took it over", async () => {
      const reason = deferred<unknown>();
      const w = worker({
        leaseMs: 60,
        handlers: {
          "w.stolen": (_p, ctx) =>
            new Promise((_resolve, reject) => {
              // Another worker takes the job (as after a long pause of this one).
              store.db.sqlite
                .prepare("UPDATE jobs SET lease_owner = 'someone-else' WHERE id = ?")
                .run(ctx.job.id);
              ctx.signal.addEventListener("abort", () => {
                reason.resolve(ctx.signal.reason);
                reject(ctx.signal.reason);
              });
            }),
        },
      });
      await w.queue.enqueue({ kind: "w.stolen", payload: null }, new Date());
      expect(await reason.promise).toMatchObject({ code: "LEASE_LOST" });
    });
  });

  describe("when stopped", () => {
    it("waits for a running job that finishes within the grace time", async () => {
      const started = deferred();
      const finish = deferred();
      const w = startWorker({
        store,
        handlers: {
          "w.grace": async () => {
            started.resolve();
            await finish.promise;
            return "finished";
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.grace", payload: null }, new Date());
      await started.promise;
      const stopped = w.stop({ graceMs: 60_000 });
      finish.resolve();
      await stopped;
      expect(await w.queue.get(job.id)).toMatchObject({ status: "done", result: "finished" });
    });

    it("aborts a job still running after the grace time and puts it back without spending the attempt", async () => {
      const started = deferred<JobContext>();
      const w = startWorker({
        store,
        handlers: {
          "w.stuck": (_p, ctx) => {
            started.resolve(ctx);
            return new Promise((_resolve, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            );
          },
        },
      });
      const { job } = await w.queue.enqueue({ kind: "w.stuck", payload: null }, new Date());
      const ctx = await started.promise;
      await w.stop({ graceMs: 10 });
      expect(ctx.signal.reason).toMatchObject({ code: "SHUTDOWN" });
      expect(await w.queue.get(job.id)).toMatchObject<Partial<JobRecord>>({
        status: "queued",
        attempts: 0,
        leaseOwner: null,
      });
    });

    it("claims nothing more", async () => {
      let ran = false;
      const w = startWorker({
        store,
        handlers: {
          "w.after": async () => {
            ran = true;
          },
        },
      });
      await w.stop();
      const { job } = await w.queue.enqueue({ kind: "w.after", payload: null }, new Date());
      await new Promise((r) => setTimeout(r, 20));
      expect(ran).toBe(false);
      expect((await w.queue.get(job.id))?.status).toBe("queued");
    });
  });

  it("leaves jobs of kinds it has no handler for", async () => {
    const w = worker({ handlers: { "w.known": async () => "ok" } });
    const { job } = await w.queue.enqueue({ kind: "w.unknown-kind", payload: null }, new Date());
    await w.idle();
    expect((await w.queue.get(job.id))?.status).toBe("queued");
  });
});
