/**
 * The durable job queue, a table in the store (see `jobs` in src/store/schema.ts; its statements
 * are in src/store/jobs.ts for SQLite and src/store/pg-jobs.ts for PostgreSQL).
 *
 * A job is claimed under a lease: SQLite by compare-and-swap (an UPDATE that only matches while the
 * job is still queued and due, or running under an expired lease), PostgreSQL by `FOR UPDATE SKIP
 * LOCKED`, so two workers (or two processes, or two replicas) can never both own it. The owner
 * renews its lease while the job runs; a worker that dies (SIGKILL, power loss) stops renewing, its
 * lease expires, and another claim runs the job again.
 */
import type { JobRow, JobStatements } from "../store/jobs.js";
import type { EnqueueInput, JobRecord, JobStatus } from "./types.js";

/** Defaults, each with why. */
export const QUEUE_DEFAULTS = {
  /** Enough to ride out a registry hiccup of a few minutes with backoff, few enough to give up the same hour. */
  maxAttempts: 5,
};

/** A coded failure as stored on a job. */
export interface JobError {
  code: string;
  message: string;
}

/** The queue with the operations a worker needs. All take the owner, so a stale worker cannot touch a job it lost. */
export interface DurableQueue {
  enqueue(input: EnqueueInput, now: Date): Promise<{ job: JobRecord; created: boolean }>;
  get(id: number): Promise<JobRecord | null>;
  counts(): Promise<Record<JobStatus, number>>;
  /** Claim the next due job of one of `kinds` (a queued one, or a running one whose lease expired); starts an attempt. */
  claim(owner: string, now: Date, leaseMs: number, kinds: readonly string[]): Promise<JobRecord | null>;
  /** Extend the lease. False when the job is no longer ours (then stop working on it). */
  renew(id: number, owner: string, now: Date, leaseMs: number): Promise<boolean>;
  /** Finish with a result. */
  complete(id: number, owner: string, result: unknown, now: Date): Promise<boolean>;
  /** Put back for a later attempt; `spendAttempt` false gives the claimed attempt back (Retry-After). */
  reschedule(
    id: number,
    owner: string,
    error: JobError,
    availableAt: Date,
    spendAttempt: boolean,
    now: Date,
  ): Promise<boolean>;
  /** Fail for good. */
  fail(id: number, owner: string, error: JobError, now: Date): Promise<boolean>;
  /** Put back, due now, without spending the attempt (graceful shutdown). */
  release(id: number, owner: string, now: Date): Promise<boolean>;
  /** Free the job's idempotency key so later identical work starts a new job (the check job does this with its results). */
  releaseKey(id: number): Promise<void>;
  /** The earliest time a job of `kinds` becomes claimable (due or lease expiry), or null when none is waiting. */
  nextDueAt(kinds: readonly string[]): Promise<string | null>;
  /** The job of `kind` enqueued last (in any status), or null: what a scheduler last handed on. */
  newest(kind: string): Promise<JobRecord | null>;
  /**
   * Called with the job's kind after each enqueue in this process, and (PostgreSQL) each job
   * another replica queues, as it commits: wakes the workers of that kind. Returns an unsubscribe.
   */
  onEnqueue(listener: (kind: string) => void): () => void;
}

/** Where a queue lives: an opened store of either engine (`OpenedStore.jobs()`). */
export interface QueueHome {
  jobs(): JobStatements;
}

const queues = new WeakMap<JobStatements, DurableQueue>();

/**
 * The queue of an open store. One instance per database, so an enqueue anywhere in this process
 * wakes every worker claiming from the same database at once.
 */
export function openQueue(home: QueueHome): DurableQueue {
  const table = home.jobs();
  const existing = queues.get(table);
  if (existing) return existing;
  const listeners = new Set<(kind: string) => void>();
  let external: (() => void) | undefined;

  const queue: DurableQueue = {
    async enqueue(input, now) {
      const out = await table.insert({
        kind: input.kind,
        payload: JSON.stringify(input.payload ?? null),
        maxAttempts: input.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts,
        availableAt: (input.availableAt ?? now).toISOString(),
        key: input.idempotencyKey ?? null,
        at: now.toISOString(),
      });
      if (out.created) for (const l of listeners) l(input.kind);
      return { job: toJob(out.row), created: out.created };
    },

    async get(id) {
      const row = await table.get(id);
      return row ? toJob(row) : null;
    },

    async counts() {
      const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
      for (const r of await table.countByStatus()) out[r.status] = Number(r.n);
      return out;
    },

    async claim(owner, now, leaseMs, kinds) {
      if (kinds.length === 0) return null;
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      const row = await table.claimNext(kinds, owner, leaseExpiresAt, now.toISOString());
      return row ? toJob(row) : null;
    },

    renew(id, owner, now, leaseMs) {
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      return table.renew(id, owner, leaseExpiresAt, now.toISOString());
    },

    complete(id, owner, result, now) {
      const json = result === undefined ? null : JSON.stringify(result);
      return table.complete(id, owner, json, now.toISOString());
    },

    reschedule(id, owner, error, availableAt, spendAttempt, now) {
      return table.requeue(id, owner, {
        giveBack: !spendAttempt,
        availableAt: availableAt.toISOString(),
        code: error.code,
        message: error.message,
        at: now.toISOString(),
      });
    },

    fail(id, owner, error, now) {
      return table.fail(id, owner, { code: error.code, message: error.message }, now.toISOString());
    },

    release(id, owner, now) {
      const at = now.toISOString();
      // The attempt is given back, but the job keeps a trace that it ran: a handler with an outside
      // effect (a Slack post) then knows to look for what the earlier run may have done.
      const trace = { code: "RELEASED", message: "given back unfinished (shutdown or lost lease)" };
      return table.requeue(id, owner, { giveBack: true, availableAt: at, ...trace, at });
    },

    releaseKey: (id) => table.releaseKey(id),

    nextDueAt: (kinds) => (kinds.length === 0 ? Promise.resolve(null) : table.nextDueAt(kinds)),

    async newest(kind) {
      const row = await table.newestOfKind(kind);
      return row ? toJob(row) : null;
    },

    onEnqueue(listener) {
      listeners.add(listener);
      // Jobs other processes queue wake this one's workers too, where the store can tell.
      external ??= table.onQueued?.((kind) => {
        for (const l of listeners) l(kind);
      });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          external?.();
          external = undefined;
        }
      };
    },
  };
  queues.set(table, queue);
  return queue;
}

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    kind: r.kind,
    payload: JSON.parse(r.payload) as unknown,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    availableAt: r.availableAt,
    leaseOwner: r.leaseOwner,
    leaseExpiresAt: r.leaseExpiresAt,
    idempotencyKey: r.idempotencyKey,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    lastError: r.lastErrorCode ? { code: r.lastErrorCode, message: r.lastErrorMessage ?? "" } : null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    finishedAt: r.finishedAt,
  };
}
