/**
 * The worker: claims jobs from the durable queue and runs their handlers, at most `concurrency` at
 * once, each with a timeout delivered through an AbortSignal, a lease renewed while it runs, retries
 * with backoff for temporary errors, and a graceful stop. It wakes on enqueue in this process at
 * once, and polls every `pollMs` for work enqueued by other processes or coming due.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { CodedError } from "../errors.js";
import { type DurableQueue, openQueue, type QueueHome } from "./queue.js";
import { backoffMs, type ClassifiedError, classify } from "./retry.js";
import type { JobContext, JobHandler, JobHandlerSpec, JobRecord, Worker, WorkerEvent } from "./types.js";

/** Codes the worker itself raises (as abort reasons and job errors). */
export type WorkerErrorCode = "TIMEOUT" | "LEASE_LOST" | "SHUTDOWN" | "NO_HANDLER" | "ATTEMPTS_EXHAUSTED";

/** An error of the worker. */
export class WorkerError extends CodedError<WorkerErrorCode> {}

/** Defaults, each with why. */
export const WORKER_DEFAULTS = {
  /** Checks are network-bound; two at a time keeps a small registry (or rate limit) comfortable. */
  concurrency: 2,
  /** A check of a large image over a slow link takes tens of seconds; two minutes means it hangs. */
  jobTimeoutMs: 120_000,
  /** Long enough that renewal (every third of it) survives a busy event loop; short enough that a crashed worker's job restarts within half a minute. */
  leaseMs: 30_000,
  /** Work enqueued by another process (or coming due) is noticed within a second. */
  pollMs: 1_000,
  /** How long stop() waits for running jobs before aborting them and putting them back. */
  graceMs: 10_000,
};

/** What `startWorker` needs. */
export interface WorkerOptions {
  /** The store whose queue the worker claims from (`openStore(...)` on either engine). */
  store: QueueHome;
  /** Handlers by job kind (`check`, `slack.post`, ...). Only these kinds are claimed. */
  handlers: Record<string, JobHandlerSpec>;
  concurrency?: number;
  jobTimeoutMs?: number;
  leaseMs?: number;
  pollMs?: number;
  now?: () => Date;
  /** Waits `ms` or until `signal` aborts, whichever comes first. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** In [0, 1), for backoff jitter. */
  random?: () => number;
  /** Lease owner name; unique per worker by default (host, pid, random). */
  owner?: string;
  /** Backoff override (tests use a few milliseconds). */
  backoff?: { baseMs?: number; maxMs?: number };
  onEvent?: (event: WorkerEvent) => void;
}

/** The abort reason that ends the worker's sleep early (nothing failed, there is work). */
const WAKE = "wake";

/** Start claiming and running jobs. */
export function startWorker(opts: WorkerOptions): Worker {
  const queue: DurableQueue = openQueue(opts.store);
  const concurrency = Math.max(1, opts.concurrency ?? WORKER_DEFAULTS.concurrency);
  const jobTimeoutMs = opts.jobTimeoutMs ?? WORKER_DEFAULTS.jobTimeoutMs;
  const leaseMs = opts.leaseMs ?? WORKER_DEFAULTS.leaseMs;
  const pollMs = opts.pollMs ?? WORKER_DEFAULTS.pollMs;
  const now = opts.now ?? (() => new Date());
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const emit = (e: WorkerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // An observer's bug must not stop the worker.
    }
  };
  const kinds = Object.keys(opts.handlers);
  const running = new Map<number, { controller: AbortController; done: Promise<void> }>();

  let stopping = false;
  let woken = false;
  let wakeController = new AbortController();
  const wake = () => {
    woken = true;
    // With a reason: abort() without one builds a DOMException (and its stack) on every enqueue.
    wakeController.abort(WAKE);
  };
  // Only jobs this worker handles wake it: a burst of checks must not make the Slack worker look
  // for work 200 times (each look is a query per kind it handles).
  const handled = new Set(kinds);
  const unsubscribe = queue.onEnqueue((kind) => {
    if (handled.has(kind)) wake();
  });
  let idleWaiters: (() => void)[] = [];

  const loop = (async () => {
    while (!stopping) {
      woken = false;
      wakeController = new AbortController();
      let claimedAny = false;
      while (!stopping && running.size < concurrency) {
        let job: JobRecord | null;
        try {
          job = await queue.claim(owner, now(), leaseMs, kinds);
        } catch (err) {
          // A locked database (another process writing for longer than the busy timeout) is not
          // fatal: try again on the next round.
          emit({ type: "error", error: err });
          break;
        }
        if (!job) break;
        claimedAny = true;
        launch(job);
      }
      if (stopping) break;
      if (!claimedAny && running.size === 0 && idleWaiters.length) {
        for (const resolve of idleWaiters) resolve();
        idleWaiters = [];
      }
      if (woken) continue;
      await sleep(await waitMs(), wakeController.signal);
    }
  })();

  async function waitMs(): Promise<number> {
    if (running.size >= concurrency) return pollMs;
    let due: string | null = null;
    try {
      due = await queue.nextDueAt(kinds);
    } catch {
      // Fall back to polling.
    }
    if (!due) return pollMs;
    return Math.max(0, Math.min(pollMs, Date.parse(due) - now().getTime()));
  }

  function launch(job: JobRecord): void {
    const controller = new AbortController();
    const done = runJob(job, controller).finally(() => {
      running.delete(job.id);
      wake();
    });
    running.set(job.id, { controller, done });
  }

  async function runJob(job: JobRecord, controller: AbortController): Promise<void> {
    const started = now();
    emit({ type: "claimed", job, latencyMs: Math.max(0, started.getTime() - Date.parse(job.availableAt)) });
    const spec = opts.handlers[job.kind];
    const run: JobHandler | undefined = typeof spec === "function" ? spec : spec?.run;
    if (!run)
      return finishFailed(job, {
        code: "NO_HANDLER",
        message: `no handler for job kind ${job.kind}`,
        temporary: false,
      });
    if (job.attempts > job.maxAttempts) {
      // Only reachable through expired leases: the process died during each attempt.
      return finishFailed(job, {
        code: "ATTEMPTS_EXHAUSTED",
        message: `the worker stopped during each of the job's ${job.maxAttempts} attempts`,
        temporary: false,
      });
    }

    const timer = setTimeout(
      () => controller.abort(new WorkerError("TIMEOUT", `the job took longer than ${jobTimeoutMs} ms`)),
      jobTimeoutMs,
    );
    const renewal = setInterval(
      () => {
        queue.renew(job.id, owner, now(), leaseMs).then(
          (ok) => {
            if (!ok) controller.abort(new WorkerError("LEASE_LOST", "another worker took over the job"));
          },
          () => {
            // A busy database: the lease has time left; try again next tick.
          },
        );
      },
      Math.max(10, Math.floor(leaseMs / 3)),
    );
    const ctx: JobContext = {
      signal: controller.signal,
      attempt: job.attempts,
      maxAttempts: job.maxAttempts,
      job,
    };
    try {
      const result = await untilAborted(run(job.payload, ctx), controller.signal);
      if (await queue.complete(job.id, owner, result, now()))
        emit({ type: "done", job, durationMs: now().getTime() - started.getTime() });
    } catch (thrown) {
      const reason = controller.signal.aborted ? controller.signal.reason : thrown;
      if (reason instanceof WorkerError && reason.code === "SHUTDOWN") {
        if (await queue.release(job.id, owner, now())) emit({ type: "released", job });
        return;
      }
      if (reason instanceof WorkerError && reason.code === "LEASE_LOST") return; // someone else runs it now
      await settle(job, classify(reason));
    } finally {
      clearTimeout(timer);
      clearInterval(renewal);
    }
  }

  async function settle(job: JobRecord, error: ClassifiedError): Promise<void> {
    const at = now();
    const stored = { code: error.code, message: error.message };
    if (error.temporary && error.retryAfterMs !== undefined && error.code === "TOO_MANY_REQUESTS") {
      const availableAt = new Date(at.getTime() + error.retryAfterMs);
      if (await queue.reschedule(job.id, owner, stored, availableAt, false, at))
        emit({
          type: "retry",
          job,
          error: stored,
          availableAt: availableAt.toISOString(),
          spentAttempt: false,
        });
      return;
    }
    if (error.temporary && job.attempts < job.maxAttempts) {
      const availableAt = new Date(at.getTime() + backoffMs(job.attempts, random, opts.backoff));
      if (await queue.reschedule(job.id, owner, stored, availableAt, true, at))
        emit({
          type: "retry",
          job,
          error: stored,
          availableAt: availableAt.toISOString(),
          spentAttempt: true,
        });
      return;
    }
    await finishFailed(job, error);
  }

  async function finishFailed(job: JobRecord, error: ClassifiedError): Promise<void> {
    const stored = { code: error.code, message: error.message };
    const spec = opts.handlers[job.kind];
    // The hook runs before the job is marked failed: if the process dies in between, the job comes
    // back (lease expiry) and the hook runs again, so hooks are written to be idempotent.
    try {
      if (spec && typeof spec !== "function") await spec.onFailed?.(job.payload, stored, job);
    } catch (err) {
      emit({ type: "error", error: err });
    }
    if (await queue.fail(job.id, owner, stored, now())) emit({ type: "failed", job, error: stored });
  }

  return {
    queue,
    async stop(stopOpts: { graceMs?: number } = {}): Promise<void> {
      if (!stopping) {
        stopping = true;
        unsubscribe();
        wake();
      }
      await loop;
      const all = () => Promise.all([...running.values()].map((r) => r.done));
      const grace = new AbortController();
      await Promise.race([all(), sleep(stopOpts.graceMs ?? WORKER_DEFAULTS.graceMs, grace.signal)]);
      grace.abort();
      for (const r of running.values())
        r.controller.abort(new WorkerError("SHUTDOWN", "the worker is stopping"));
      await all();
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    },
    idle(): Promise<void> {
      if (stopping) return Promise.resolve();
      const p = new Promise<void>((resolve) => idleWaiters.push(resolve));
      wake();
      return p;
    },
  };
}

/** Settle with `work`, or reject with the signal's reason as soon as it aborts (a handler that ignores its signal no longer holds the slot). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** setTimeout that an AbortSignal cuts short (resolves, never rejects). */
export function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
