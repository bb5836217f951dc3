/**
 * The durable job queue, a table in the store's SQLite database (see `jobs` in src/store/schema.ts).
 *
 * A job is claimed by compare-and-swap: an UPDATE that only matches while the job is still queued
 * and due (or running under an expired lease), checked by its change count, so two workers (or two
 * processes) can never both own it. The owner renews its lease while the job runs; a worker that
 * dies (SIGKILL, power loss) stops renewing, its lease expires, and another claim runs the job again.
 */
import { and, eq, lte, or, sql } from "drizzle-orm";
import type { Db } from "../store/db.js";
import { jobs } from "../store/schema.js";
import type { EnqueueInput, JobQueue, JobRecord, JobStatus } from "./types.js";

/** Defaults, each with why. */
export const QUEUE_DEFAULTS = {
  /** Enough to ride out a registry hiccup of a few minutes with backoff, few enough to give up the same hour. */
  maxAttempts: 5,
};

type JobRow = typeof jobs.$inferSelect;

/** A coded failure as stored on a job. */
export interface JobError {
  code: string;
  message: string;
}

/** The queue with the operations a worker needs. All take the owner, so a stale worker cannot touch a job it lost. */
export interface DurableQueue extends JobQueue {
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

const queues = new WeakMap<Db, DurableQueue>();

/**
 * The queue of an open database. One instance per Db, so an enqueue anywhere in this process wakes
 * every worker claiming from the same database at once.
 */
export function openQueue(db: Db): DurableQueue {
  const existing = queues.get(db);
  if (existing) return existing;
  const orm = db.orm;
  const listeners = new Set<(kind: string) => void>();
  const ph = sql.placeholder;

  // Prepared once per queue: the claim/complete path runs for every job, and compiling its SQL
  // each time would cost more than executing it.
  const ownedRunning = and(
    eq(jobs.id, ph("id")),
    eq(jobs.status, "running"),
    eq(jobs.leaseOwner, ph("owner")),
  );
  const stmt = {
    // The status list is written as literals, exactly as in the partial index's WHERE, so SQLite
    // can prove the index applies and look the key up in it; bound parameters would make it scan
    // every queued and running job instead (a burst of 200 slash commands is 200 queued jobs).
    findActive: orm
      .select()
      .from(jobs)
      .where(and(eq(jobs.idempotencyKey, ph("key")), sql`${jobs.status} IN ('queued','running')`))
      .prepare(),
    insert: orm
      .insert(jobs)
      .values({
        kind: ph("kind"),
        payload: ph("payload"),
        status: "queued",
        attempts: 0,
        maxAttempts: ph("maxAttempts"),
        availableAt: ph("availableAt"),
        idempotencyKey: ph("key"),
        createdAt: ph("at"),
        updatedAt: ph("at"),
      })
      .returning()
      .prepare(),
    get: orm
      .select()
      .from(jobs)
      .where(eq(jobs.id, ph("id")))
      .prepare(),
    claim: orm
      .update(jobs)
      .set({
        status: "running",
        attempts: sql`${jobs.attempts} + 1`,
        leaseOwner: sql`${ph("owner")}`,
        leaseExpiresAt: sql`${ph("leaseExpiresAt")}`,
        updatedAt: sql`${ph("at")}`,
      })
      .where(
        and(
          eq(jobs.id, ph("id")),
          or(
            and(eq(jobs.status, "queued"), lte(jobs.availableAt, ph("at"))),
            and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, ph("at"))),
          ),
        ),
      )
      .returning()
      .prepare(),
    renew: orm
      .update(jobs)
      .set({ leaseExpiresAt: sql`${ph("leaseExpiresAt")}`, updatedAt: sql`${ph("at")}` })
      .where(ownedRunning)
      .prepare(),
    complete: orm
      .update(jobs)
      .set({
        status: "done",
        result: sql`${ph("result")}`,
        leaseOwner: null,
        leaseExpiresAt: null,
        updatedAt: sql`${ph("at")}`,
        finishedAt: sql`${ph("at")}`,
      })
      .where(ownedRunning)
      .prepare(),
    // `giveBack` is 1 to return the claimed attempt (Retry-After, shutdown), 0 to spend it.
    requeue: orm
      .update(jobs)
      .set({
        status: "queued",
        attempts: sql`max(${jobs.attempts} - ${ph("giveBack")}, 0)`,
        availableAt: sql`${ph("availableAt")}`,
        leaseOwner: null,
        leaseExpiresAt: null,
        lastErrorCode: sql`coalesce(${ph("code")}, ${jobs.lastErrorCode})`,
        lastErrorMessage: sql`coalesce(${ph("message")}, ${jobs.lastErrorMessage})`,
        updatedAt: sql`${ph("at")}`,
      })
      .where(ownedRunning)
      .prepare(),
    releaseKey: orm
      .update(jobs)
      .set({ idempotencyKey: null })
      .where(eq(jobs.id, ph("id")))
      .prepare(),
    fail: orm
      .update(jobs)
      .set({
        status: "failed",
        leaseOwner: null,
        leaseExpiresAt: null,
        lastErrorCode: sql`${ph("code")}`,
        lastErrorMessage: sql`${ph("message")}`,
        updatedAt: sql`${ph("at")}`,
        finishedAt: sql`${ph("at")}`,
      })
      .where(ownedRunning)
      .prepare(),
  };

  // The statements that filter by job kind, one kind at a time: each is an index seek on
  // (status, kind, available_at), so a claim costs the same with 1 or 10,000 jobs of other kinds
  // queued. A worker asks once per kind it handles and takes the oldest.
  const byKind = {
    expired: orm
      .select({ id: jobs.id, at: jobs.leaseExpiresAt })
      .from(jobs)
      .where(and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, ph("at")), eq(jobs.kind, ph("kind"))))
      .orderBy(jobs.leaseExpiresAt)
      .limit(1)
      .prepare(),
    due: orm
      .select({ id: jobs.id, at: jobs.availableAt })
      .from(jobs)
      .where(and(eq(jobs.status, "queued"), eq(jobs.kind, ph("kind")), lte(jobs.availableAt, ph("at"))))
      .orderBy(jobs.availableAt, jobs.id)
      .limit(1)
      .prepare(),
    nextQueued: orm
      .select({ at: jobs.availableAt })
      .from(jobs)
      .where(and(eq(jobs.status, "queued"), eq(jobs.kind, ph("kind"))))
      .orderBy(jobs.availableAt)
      .limit(1)
      .prepare(),
    nextLease: orm
      .select({ at: sql<string | null>`min(${jobs.leaseExpiresAt})` })
      .from(jobs)
      .where(and(eq(jobs.status, "running"), eq(jobs.kind, ph("kind"))))
      .prepare(),
  };

  /** The oldest row (by `at`, then id) that `query` finds over `kinds`. */
  function oldest(
    query: { get(p: { kind: string; at: string }): { id: number; at: string | null } | undefined },
    kinds: readonly string[],
    at: string,
  ): { id: number } | undefined {
    let best: { id: number; at: string | null } | undefined;
    for (const kind of kinds) {
      const row = query.get({ kind, at });
      if (row && (!best || (row.at ?? "") < (best.at ?? "") || (row.at === best.at && row.id < best.id)))
        best = row;
    }
    return best;
  }

  // Built once: better-sqlite3 makes a new wrapper per `transaction()` call.
  const enqueueTx = db.sqlite.transaction(
    (input: EnqueueInput, now: Date): { job: JobRecord; created: boolean } => {
      const at = now.toISOString();
      const key = input.idempotencyKey ?? null;
      if (key) {
        const active = stmt.findActive.get({ key });
        if (active) return { job: toJob(active), created: false };
      }
      const row = stmt.insert.get({
        kind: input.kind,
        payload: JSON.stringify(input.payload ?? null),
        maxAttempts: input.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts,
        availableAt: (input.availableAt ?? now).toISOString(),
        key,
        at,
      });
      return { job: toJob(row!), created: true };
    },
  );

  const queue: DurableQueue = {
    enqueue(input: EnqueueInput, now: Date): { job: JobRecord; created: boolean } {
      const out = enqueueTx.immediate(input, now);
      if (out.created) for (const l of listeners) l(input.kind);
      return out;
    },

    get(id: number): JobRecord | null {
      const row = stmt.get.get({ id });
      return row ? toJob(row) : null;
    },

    counts(): Record<JobStatus, number> {
      const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
      const rows = orm
        .select({ status: jobs.status, n: sql<number>`count(*)` })
        .from(jobs)
        .groupBy(jobs.status)
        .all();
      for (const r of rows) out[r.status] = r.n;
      return out;
    },

    claim(owner: string, now: Date, leaseMs: number, kinds: readonly string[]): JobRecord | null {
      if (kinds.length === 0) return null;
      const at = now.toISOString();
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      // A few rounds: losing a race to another worker just means trying the next candidate.
      for (let round = 0; round < 5; round++) {
        // Expired leases first: those jobs have waited longest (their worker died).
        const candidate = oldest(byKind.expired, kinds, at) ?? oldest(byKind.due, kinds, at);
        if (!candidate) return null;
        const row = stmt.claim.get({ id: candidate.id, owner, leaseExpiresAt, at });
        if (row) return toJob(row);
      }
      return null;
    },

    renew(id: number, owner: string, now: Date, leaseMs: number): boolean {
      const leaseExpiresAt = new Date(now.getTime() + leaseMs).toISOString();
      return stmt.renew.run({ id, owner, leaseExpiresAt, at: now.toISOString() }).changes === 1;
    },

    complete(id: number, owner: string, result: unknown, now: Date): boolean {
      const json = result === undefined ? null : JSON.stringify(result);
      return stmt.complete.run({ id, owner, result: json, at: now.toISOString() }).changes === 1;
    },

    reschedule(
      id: number,
      owner: string,
      error: JobError,
      availableAt: Date,
      spendAttempt: boolean,
      now: Date,
    ): boolean {
      return (
        stmt.requeue.run({
          id,
          owner,
          giveBack: spendAttempt ? 0 : 1,
          availableAt: availableAt.toISOString(),
          code: error.code,
          message: error.message,
          at: now.toISOString(),
        }).changes === 1
      );
    },

    fail(id: number, owner: string, error: JobError, now: Date): boolean {
      return (
        stmt.fail.run({ id, owner, code: error.code, message: error.message, at: now.toISOString() })
          .changes === 1
      );
    },

    release(id: number, owner: string, now: Date): boolean {
      const at = now.toISOString();
      return (
        stmt.requeue.run({ id, owner, giveBack: 1, availableAt: at, code: null, message: null, at })
          .changes === 1
      );
    },

    releaseKey(id: number): void {
      stmt.releaseKey.run({ id });
    },

    nextDueAt(kinds: readonly string[]): string | null {
      if (kinds.length === 0) return null;
      const times = kinds
        .flatMap((kind) => [byKind.nextQueued.get({ kind })?.at, byKind.nextLease.get({ kind })?.at])
        .filter((t): t is string => typeof t === "string");
      return times.length ? times.sort()[0]! : null;
    },

    onEnqueue(listener: (kind: string) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
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
