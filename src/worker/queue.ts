/**
 * The durable job queue, a table in the store's SQLite database (see `jobs` in src/store/schema.ts;
 * its statements are in src/store/jobs.ts).
 *
 * A job is claimed by compare-and-swap: an UPDATE that only matches while the job is still queued
 * and due (or running under an expired lease), checked by its change count, so two workers (or two
 * processes) can never both own it. The owner renews its lease while the job runs; a worker that
 * dies (SIGKILL, power loss) stops renewing, its lease expires, and another claim runs the job again.
 */
import { type Async, asyncify } from "../store/async.js";
import type { Db } from "../store/db.js";
import { type JobCandidate, type JobRow, openJobTable } from "../store/jobs.js";
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

/**
 * The queue with the operations a worker needs, as the SQLite statements implement them
 * (synchronous). All take the owner, so a stale worker cannot touch a job it lost.
 */
interface SyncDurableQueue {
  enqueue(input: EnqueueInput, now: Date): { job: JobRecord; created: boolean };
  get(id: number): JobRecord | null;
  counts(): Record<JobStatus, number>;
  /** Claim the next due job of one of `kinds` (a queued one, or a running one whose lease expired); starts an attempt. */
  claim(owner: string, now: Date, leaseMs: number, kinds: readonly string[]): JobRecord | null;
  /** Extend the lease. False when the job is no longer ours (then stop working on it). */
  renew(id: number, owner: string, now: Date, leaseMs: number): boolean;
  /** Finish with a result. */
  complete(id: number, owner: string, result: unknown, now: Date): boolean;
  /** Put back for a later attempt; `spendAttempt` false gives the claimed attempt back (Retry-After). */
  reschedule(
    id: number,
    owner: string,
    error: JobError,
    availableAt: Date,
    spendAttempt: boolean,
    now: Date,
  ): boolean;
  /** Fail for good. */
  fail(id: number, owner: string, error: JobError, now: Date): boolean;
  /** Put back, due now, without spending the attempt (graceful shutdown). */
  release(id: number, owner: string, now: Date): boolean;
  /** Free the job's idempotency key so later identical work starts a new job (the check job does this with its results). */
  releaseKey(id: number): void;
  /** The earliest time a job of `kinds` becomes claimable (due or lease expiry), or null when none is waiting. */
  nextDueAt(kinds: readonly string[]): string | null;
  /** Called with the job's kind after each enqueue in this process (wakes the workers of that kind). Returns an unsubscribe. */
  onEnqueue(listener: (kind: string) => void): () => void;
}

/** The durable queue (see `SyncDurableQueue` for each method): every method but `onEnqueue` returns a Promise. */
export type DurableQueue = Async<SyncDurableQueue, "onEnqueue">;

const queues = new WeakMap<Db, DurableQueue>();

/**
 * The queue of an open database. One instance per Db, so an enqueue anywhere in this process wakes
 * every worker claiming from the same database at once.
 */
export function openQueue(db: Db): DurableQueue {
  const existing = queues.get(db);
  if (existing) return existing;
  const table = openJobTable(db);
  const listeners = new Set<(kind: string) => void>();

  /**
   * The oldest candidate (by `at`, then id) that `find` returns over `kinds`, a deferred one (all
   * its requesters have a check running) only when no kind has another.
   */
  function oldest(
    find: (kind: string, at: string) => JobCandidate | undefined,
    kinds: readonly string[],
    at: string,
  ): JobCandidate | undefined {
    let best: JobCandidate | undefined;
    const before = (a: JobCandidate, b: JobCandidate): boolean => {
      const da = a.deferred ?? 0;
      const db = b.deferred ?? 0;
      if (da !== db) return da < db;
      return (a.at ?? "") < (b.at ?? "") || (a.at === b.at && a.id < b.id);
    };
    for (const kind of kinds) {
      const row = find(kind, at);
      if (row && (!best || before(row, best))) best = row;
    }
    return best;
  }

  const sync: SyncDurableQueue = {
    enqueue(input: EnqueueInput, now: Date): { job: JobRecord; created: boolean } {
      const out = table.insert({
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

    get(id: number): JobRecord | null {
      const row = table.get(id);
      return row ? toJob(row) : null;
    },

    counts(): Record<JobStatus, number> {
      const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
      for (const r of table.countByStatus()) out[r.status] = r.n;
      return out;
    },

    claim(owner: string, now: Date, leaseMs: number, kinds: readonly string[]): JobRecord | null {
      if (kinds.length === 0) return null;
      const at = now.toISOString();
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      // A few rounds: losing a race to another worker just means trying the next candidate.
      for (let round = 0; round < 5; round++) {
        // Expired leases first: those jobs have waited longest (their worker died).
        const candidate = oldest(table.oldestExpired, kinds, at) ?? oldest(table.oldestDue, kinds, at);
        if (!candidate) return null;
        const row = table.claim(candidate.id, owner, leaseExpiresAt, at);
        if (row) return toJob(row);
      }
      return null;
    },

    renew(id: number, owner: string, now: Date, leaseMs: number): boolean {
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      return table.renew(id, owner, leaseExpiresAt, now.toISOString());
    },

    complete(id: number, owner: string, result: unknown, now: Date): boolean {
      const json = result === undefined ? null : JSON.stringify(result);
      return table.complete(id, owner, json, now.toISOString());
    },

    reschedule(
      id: number,
      owner: string,
      error: JobError,
      availableAt: Date,
      spendAttempt: boolean,
      now: Date,
    ): boolean {
      return table.requeue(id, owner, {
        giveBack: !spendAttempt,
        availableAt: availableAt.toISOString(),
        code: error.code,
        message: error.message,
        at: now.toISOString(),
      });
    },

    fail(id: number, owner: string, error: JobError, now: Date): boolean {
      return table.fail(id, owner, { code: error.code, message: error.message }, now.toISOString());
    },

    release(id: number, owner: string, now: Date): boolean {
      const at = now.toISOString();
      // The attempt is given back, but the job keeps a trace that it ran: a handler with an outside
      // effect (a Slack post) then knows to look for what the earlier run may have done.
      const trace = { code: "RELEASED", message: "given back unfinished (shutdown or lost lease)" };
      return table.requeue(id, owner, { giveBack: true, availableAt: at, ...trace, at });
    },

    releaseKey(id: number): void {
      table.releaseKey(id);
    },

    nextDueAt(kinds: readonly string[]): string | null {
      if (kinds.length === 0) return null;
      const times = kinds
        .flatMap((kind) => [table.nextQueuedAt(kind), table.nextLeaseExpiry(kind)])
        .filter((t): t is string => typeof t === "string");
      return times.length ? times.sort()[0]! : null;
    },

    onEnqueue(listener: (kind: string) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const queue: DurableQueue = asyncify(db, sync, ["onEnqueue"]);
  queues.set(db, queue);
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
