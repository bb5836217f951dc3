/**
 * The durable job queue, a table in the store's SQLite database (see `jobs` in src/store/schema.ts).
 *
 * A job is claimed by compare-and-swap: an UPDATE that only matches while the job is still queued
 * and due (or running under an expired lease), checked by its change count, so two workers (or two
 * processes) can never both own it. The owner renews its lease while the job runs; a worker that
 * dies (SIGKILL, power loss) stops renewing, its lease expires, and another claim runs the job again.
 */
import { and, eq, inArray, lte, or, sql } from "drizzle-orm";
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
  /** Called after each enqueue in this process (wakes the workers). Returns an unsubscribe. */
  onEnqueue(listener: () => void): () => void;
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
  const listeners = new Set<() => void>();

  const ownedRunning = (id: number, owner: string) =>
    and(eq(jobs.id, id), eq(jobs.status, "running"), eq(jobs.leaseOwner, owner));

  const findActive = (key: string) =>
    orm
      .select()
      .from(jobs)
      .where(and(eq(jobs.idempotencyKey, key), inArray(jobs.status, ["queued", "running"])))
      .get();

  const queue: DurableQueue = {
    enqueue(input: EnqueueInput, now: Date): { job: JobRecord; created: boolean } {
      const at = now.toISOString();
      const key = input.idempotencyKey ?? null;
      const out = orm.transaction(
        (tx) => {
          if (key) {
            const active = findActive(key);
            if (active) return { job: toJob(active), created: false };
          }
          const row = tx
            .insert(jobs)
            .values({
              kind: input.kind,
              payload: JSON.stringify(input.payload ?? null),
              status: "queued",
              attempts: 0,
              maxAttempts: input.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts,
              availableAt: (input.availableAt ?? now).toISOString(),
              idempotencyKey: key,
              createdAt: at,
              updatedAt: at,
            })
            .returning()
            .get();
          return { job: toJob(row), created: true };
        },
        { behavior: "immediate" },
      );
      if (out.created) for (const l of listeners) l();
      return out;
    },

    get(id: number): JobRecord | null {
      const row = orm.select().from(jobs).where(eq(jobs.id, id)).get();
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
      const claimable = or(
        and(eq(jobs.status, "queued"), lte(jobs.availableAt, at)),
        and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, at)),
      );
      // A few rounds: losing a race to another worker just means trying the next candidate.
      for (let round = 0; round < 5; round++) {
        const candidate =
          orm
            .select({ id: jobs.id })
            .from(jobs)
            .where(
              and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, at), inArray(jobs.kind, [...kinds])),
            )
            .orderBy(jobs.leaseExpiresAt)
            .limit(1)
            .get() ??
          orm
            .select({ id: jobs.id })
            .from(jobs)
            .where(and(eq(jobs.status, "queued"), lte(jobs.availableAt, at), inArray(jobs.kind, [...kinds])))
            .orderBy(jobs.availableAt, jobs.id)
            .limit(1)
            .get();
        if (!candidate) return null;
        const row = orm
          .update(jobs)
          .set({
            status: "running",
            attempts: sql`${jobs.attempts} + 1`,
            leaseOwner: owner,
            leaseExpiresAt: new Date(now.getTime() + leaseMs).toISOString(),
            updatedAt: at,
          })
          .where(and(eq(jobs.id, candidate.id), claimable))
          .returning()
          .get();
        if (row) return toJob(row);
      }
      return null;
    },

    renew(id: number, owner: string, now: Date, leaseMs: number): boolean {
      return (
        orm
          .update(jobs)
          .set({
            leaseExpiresAt: new Date(now.getTime() + leaseMs).toISOString(),
            updatedAt: now.toISOString(),
          })
          .where(ownedRunning(id, owner))
          .run().changes === 1
      );
    },

    complete(id: number, owner: string, result: unknown, now: Date): boolean {
      const at = now.toISOString();
      return (
        orm
          .update(jobs)
          .set({
            status: "done",
            result: result === undefined ? null : JSON.stringify(result),
            leaseOwner: null,
            leaseExpiresAt: null,
            updatedAt: at,
            finishedAt: at,
          })
          .where(ownedRunning(id, owner))
          .run().changes === 1
      );
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
        orm
          .update(jobs)
          .set({
            status: "queued",
            attempts: spendAttempt ? jobs.attempts : sql`max(${jobs.attempts} - 1, 0)`,
            availableAt: availableAt.toISOString(),
            leaseOwner: null,
            leaseExpiresAt: null,
            lastErrorCode: error.code,
            lastErrorMessage: error.message,
            updatedAt: now.toISOString(),
          })
          .where(ownedRunning(id, owner))
          .run().changes === 1
      );
    },

    fail(id: number, owner: string, error: JobError, now: Date): boolean {
      const at = now.toISOString();
      return (
        orm
          .update(jobs)
          .set({
            status: "failed",
            leaseOwner: null,
            leaseExpiresAt: null,
            lastErrorCode: error.code,
            lastErrorMessage: error.message,
            updatedAt: at,
            finishedAt: at,
          })
          .where(ownedRunning(id, owner))
          .run().changes === 1
      );
    },

    release(id: number, owner: string, now: Date): boolean {
      return (
        orm
          .update(jobs)
          .set({
            status: "queued",
            attempts: sql`max(${jobs.attempts} - 1, 0)`,
            availableAt: now.toISOString(),
            leaseOwner: null,
            leaseExpiresAt: null,
            updatedAt: now.toISOString(),
          })
          .where(ownedRunning(id, owner))
          .run().changes === 1
      );
    },

    releaseKey(id: number): void {
      orm.update(jobs).set({ idempotencyKey: null }).where(eq(jobs.id, id)).run();
    },

    nextDueAt(kinds: readonly string[]): string | null {
      if (kinds.length === 0) return null;
      const queued = orm
        .select({ at: sql<string | null>`min(${jobs.availableAt})` })
        .from(jobs)
        .where(and(eq(jobs.status, "queued"), inArray(jobs.kind, [...kinds])))
        .get();
      const leased = orm
        .select({ at: sql<string | null>`min(${jobs.leaseExpiresAt})` })
        .from(jobs)
        .where(and(eq(jobs.status, "running"), inArray(jobs.kind, [...kinds])))
        .get();
      const times = [queued?.at, leased?.at].filter((t): t is string => typeof t === "string");
      return times.length ? times.sort()[0]! : null;
    },

    onEnqueue(listener: () => void): () => void {
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
