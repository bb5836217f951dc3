/**
 * The worker's public types: the durable job queue (in the store's SQLite database), job handlers,
 * and the check runner the app provides. Implementations: src/worker/queue.ts (`openQueue`),
 * src/worker/worker.ts (`startWorker`), src/worker/check-job.ts (`checkJobHandler`, `enqueueCheck`).
 */
import type { Report } from "../checks/report.js";
import type { CheckContext } from "../checks/types.js";

/**
 * Runs one check: gather facts, run the checks, judge under the policy. Provided by the app
 * (src/worker/pipeline.ts). Must pass `signal` into every registry/engine call. Throw a CodedError
 * with a temporary code (TIMEOUT, NETWORK, SERVER_ERROR, TOO_MANY_REQUESTS with `retryAfterMs`...)
 * to have the worker retry; any other error fails the request once.
 */
export type CheckRunner = (
  /** `lastAttempt`: no retry follows, so a temporary failure should come back as a report that cannot pass. */
  input: {
    reference: string;
    platform?: string;
    source?: string;
    lastAttempt?: boolean;
    /** A re-check of an approval (`watch`): the findings the approval saw, for `watch.changed`. */
    approval?: CheckContext["approval"];
    /** The digest the tag should still resolve to (a re-check: the approved one), for `tag.moved` and a conditional manifest GET. */
    knownDigest?: string;
  },
  signal: AbortSignal,
) => Promise<Report>;

/** Payload of a `check` job. */
export interface CheckJobPayload {
  /** The request that started the job; other requests may join it (same idempotency key). */
  requestId: string;
  reference: string;
  platform?: string;
  source?: string;
}

/** Where a job is. */
export type JobStatus = "queued" | "running" | "done" | "failed";

/** A job as stored. */
export interface JobRecord {
  id: number;
  /** Which handler runs it: `check`, `slack.post`, ... */
  kind: string;
  payload: unknown;
  status: JobStatus;
  /** Attempts started so far (a claim starts one; a Retry-After reschedule gives it back). */
  attempts: number;
  maxAttempts: number;
  /** Not claimed before this time (backoff, Retry-After). */
  availableAt: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  /** Identical work shares one job while it is queued or running. */
  idempotencyKey: string | null;
  result: unknown;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** What `enqueue` needs. */
export interface EnqueueInput {
  kind: string;
  payload: unknown;
  /**
   * While a job with this key is queued or running, enqueueing again returns that job (`created`
   * false) instead of adding one. Once it finished, the key is free again.
   */
  idempotencyKey?: string | null;
  /** Default 5. */
  maxAttempts?: number;
  /** Default `now`. */
  availableAt?: Date;
}

/** Context passed to a job handler. */
export interface JobContext {
  /** Aborted on the per-job timeout, on a lost lease, and on shutdown. Pass it into every I/O call. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  job: JobRecord;
}

/** Runs one job; the resolved value is stored as the job's result (JSON). */
export type JobHandler = (payload: unknown, ctx: JobContext) => Promise<unknown>;

/** A handler, optionally with a hook called once when the job finally fails (permanent error or attempts spent). */
export type JobHandlerSpec =
  | JobHandler
  | {
      run: JobHandler;
      onFailed?: (
        payload: unknown,
        error: { code: string; message: string },
        job: JobRecord,
      ) => Promise<void> | void;
    };

/** The durable queue. Enqueueing wakes any worker of this process at once (no polling delay). */
export interface JobQueue {
  /** Add a job (or join the queued/running one with the same idempotency key). */
  enqueue(input: EnqueueInput, now: Date): Promise<{ job: JobRecord; created: boolean }>;
  /** A job by id, or null. */
  get(id: number): Promise<JobRecord | null>;
  /** Count of jobs by status (for /metrics and tests). */
  counts(): Promise<Record<JobStatus, number>>;
}

/** Events a worker reports (for logs and metrics). */
export type WorkerEvent =
  | { type: "claimed"; job: JobRecord; latencyMs: number }
  | { type: "done"; job: JobRecord; durationMs: number }
  | {
      type: "retry";
      job: JobRecord;
      error: { code: string; message: string };
      availableAt: string;
      spentAttempt: boolean;
    }
  | { type: "failed"; job: JobRecord; error: { code: string; message: string } }
  | { type: "released"; job: JobRecord }
  | { type: "error"; error: unknown };

/** A running worker. */
export interface Worker {
  /** The queue the worker claims from (same as `openQueue(store)`). */
  readonly queue: JobQueue;
  /**
   * Stop claiming; wait up to `graceMs` (default 10 s) for running jobs, then abort the rest and put
   * them back in the queue without spending an attempt. Resolves when nothing runs.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
  /** Resolves when no job is running and none is available now (for tests). */
  idle(): Promise<void>;
}

/**
 * Runs one round of a scheduler unless another process sharing the store runs one now (then
 * `ran` is false): `OpenedStore.schedulerRound` bound to the scheduler's name.
 */
export type ExclusiveRound = <T>(
  round: () => Promise<T>,
) => Promise<{ ran: true; value: T } | { ran: false }>;
