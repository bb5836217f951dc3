/**
 * The statements of the `jobs` table on SQLite, where the durable queue of src/worker/queue.ts
 * lives (./pg-jobs.ts has the same statements on PostgreSQL). Only reads and writes, as plain rows:
 * the queue's rules (retries, backoff, wake-ups) stay in the worker, and drizzle stays in
 * src/store. Which job a claim takes is the one rule both engines write in SQL (`JobStatements.claimNext`).
 */
import { and, desc, eq, lte, or, sql } from "drizzle-orm";
import { asyncify } from "./async.js";
import type { Db } from "./db.js";
import { jobs } from "./schema.js";

/** Where a job is. */
export type JobRowStatus = "queued" | "running" | "done" | "failed";

/** A row of `jobs`: payload and result are JSON text, timestamps UTC ISO-8601. */
export interface JobRow {
  id: number;
  kind: string;
  payload: string;
  status: JobRowStatus;
  attempts: number;
  maxAttempts: number;
  availableAt: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  idempotencyKey: string | null;
  result: string | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** A new row of `jobs`. */
export interface NewJobRow {
  kind: string;
  /** JSON text. */
  payload: string;
  maxAttempts: number;
  availableAt: string;
  key: string | null;
  at: string;
}

/** A job of one kind and the time it is waiting on (due, or lease expiry), for picking the oldest. */
export interface JobCandidate {
  id: number;
  at: string | null;
  /** 1 when every requester of the job already has a check running (taken after the others), else 0 or absent. */
  deferred?: number;
}

/** The statements; every write that concerns a claimed job takes its owner, and says whether it matched. */
export interface JobTable {
  /**
   * Insert a queued job, unless a queued or running job has the same idempotency key: then that
   * one is returned, `created` false. One IMMEDIATE transaction.
   */
  insert(job: NewJobRow): { row: JobRow; created: boolean };
  get(id: number): JobRow | undefined;
  /** How many jobs are in each status (statuses with none are left out). */
  countByStatus(): { status: JobRowStatus; n: number }[];
  /** The running job of `kind` whose lease expired longest ago, by `at`. */
  oldestExpired(kind: string, at: string): JobCandidate | undefined;
  /**
   * The queued job of `kind` due longest ago, by `at`, preferring one with a requester who has no
   * check running (the requests linked by `job_id`), so one user cannot hold every worker.
   */
  oldestDue(kind: string, at: string): JobCandidate | undefined;
  /** When the earliest queued job of `kind` becomes due. */
  nextQueuedAt(kind: string): string | undefined;
  /** When the earliest lease of a running job of `kind` expires. */
  nextLeaseExpiry(kind: string): string | null | undefined;
  /** Claim by compare-and-swap: only while the job is queued and due, or running under an expired lease. Starts an attempt. */
  claim(id: number, owner: string, leaseExpiresAt: string, at: string): JobRow | undefined;
  renew(id: number, owner: string, leaseExpiresAt: string, at: string): boolean;
  complete(id: number, owner: string, result: string | null, at: string): boolean;
  /** Back to queued, due at `availableAt`; `giveBack` returns the claimed attempt. Null error fields keep the last error. */
  requeue(
    id: number,
    owner: string,
    r: { giveBack: boolean; availableAt: string; code: string | null; message: string | null; at: string },
  ): boolean;
  fail(id: number, owner: string, error: { code: string; message: string }, at: string): boolean;
  releaseKey(id: number): void;
  newestOfKind(kind: string): JobRow | undefined;
}

/**
 * What the queue needs of a store, on either engine; every write that concerns a claimed job takes
 * its owner and says whether it matched (false: the job is no longer ours).
 */
export interface JobStatements {
  /** Insert a queued job, unless a queued or running job has the same idempotency key: then that one, `created` false. */
  insert(job: NewJobRow): Promise<{ row: JobRow; created: boolean }>;
  get(id: number): Promise<JobRow | undefined>;
  /** How many jobs are in each status (statuses with none are left out). */
  countByStatus(): Promise<{ status: JobRowStatus; n: number }[]>;
  /**
   * Claim the job of one of `kinds` that has waited longest and start an attempt on it, under a
   * lease until `leaseExpiresAt`: first a running job whose lease expired (its worker died), oldest
   * expiry first; else a queued job that is due, preferring one with a requester who has no check
   * running (so one user cannot hold every worker), oldest due first. Never the same job to two
   * claims, in one process or several.
   */
  claimNext(
    kinds: readonly string[],
    owner: string,
    leaseExpiresAt: string,
    at: string,
  ): Promise<JobRow | undefined>;
  renew(id: number, owner: string, leaseExpiresAt: string, at: string): Promise<boolean>;
  complete(id: number, owner: string, result: string | null, at: string): Promise<boolean>;
  /** Back to queued, due at `availableAt`; `giveBack` returns the claimed attempt. Null error fields keep the last error. */
  requeue(
    id: number,
    owner: string,
    r: { giveBack: boolean; availableAt: string; code: string | null; message: string | null; at: string },
  ): Promise<boolean>;
  fail(id: number, owner: string, error: { code: string; message: string }, at: string): Promise<boolean>;
  releaseKey(id: number): Promise<void>;
  /** The earliest time a job of `kinds` becomes claimable (due, or lease expiry), or null when none is waiting. */
  nextDueAt(kinds: readonly string[]): Promise<string | null>;
  /** The job of `kind` enqueued last, in any status. */
  newestOfKind(kind: string): Promise<JobRow | undefined>;
  /**
   * Call `fn` with the kind of each job that becomes queued in another process sharing the store
   * (enqueued, or put back), as its transaction commits; returns an unsubscribe. Only where the
   * engine can tell (PostgreSQL's NOTIFY); SQLite has one bot process, whose queue wakes its
   * workers itself.
   */
  onQueued?(fn: (kind: string) => void): () => void;
}

const statements = new WeakMap<Db, JobStatements>();

/** The job statements of an open SQLite database, prepared once per database (they run for every job). */
export function sqliteJobStatements(db: Db): JobStatements {
  const existing = statements.get(db);
  if (existing) return existing;
  const table = openJobTable(db);
  // A few rounds: losing a compare-and-swap to another process just means trying the next candidate.
  const claimRounds = 5;
  const sync: SyncJobStatements = {
    insert: table.insert,
    get: table.get,
    countByStatus: table.countByStatus,
    claimNext(kinds, owner, leaseExpiresAt, at) {
      if (kinds.length === 0) return undefined;
      for (let round = 0; round < claimRounds; round++) {
        const candidate = oldest(table.oldestExpired, kinds, at) ?? oldest(table.oldestDue, kinds, at);
        if (!candidate) return undefined;
        const row = table.claim(candidate.id, owner, leaseExpiresAt, at);
        if (row) return row;
      }
      return undefined;
    },
    renew: table.renew,
    complete: table.complete,
    requeue: table.requeue,
    fail: table.fail,
    releaseKey: table.releaseKey,
    nextDueAt(kinds) {
      const times = kinds
        .flatMap((kind) => [table.nextQueuedAt(kind), table.nextLeaseExpiry(kind)])
        .filter((t): t is string => typeof t === "string");
      return times.length ? times.sort()[0]! : null;
    },
    newestOfKind: table.newestOfKind,
  };
  const out: JobStatements = asyncify(db, sync);
  statements.set(db, out);
  return out;
}

/** `JobStatements` as SQLite runs them, synchronously. */
type SyncJobStatements = {
  [K in keyof JobStatements]: JobStatements[K] extends (...args: infer A) => Promise<infer R>
    ? (...args: A) => R
    : never;
};

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

/** The statements over an open database, prepared once (they run for every job). */
function openJobTable(db: Db): JobTable {
  const orm = db.orm;
  const ph = sql.placeholder;
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
    newestOfKind: orm
      .select()
      .from(jobs)
      .where(eq(jobs.kind, ph("kind")))
      .orderBy(desc(jobs.id))
      .limit(1)
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
  // queued.
  const byKind = {
    expired: orm
      .select({ id: jobs.id, at: jobs.leaseExpiresAt })
      .from(jobs)
      .where(and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, ph("at")), eq(jobs.kind, ph("kind"))))
      .orderBy(jobs.leaseExpiresAt)
      .limit(1)
      .prepare(),
    // Fair among requesters (one user must not hold every worker): the oldest due job that has a
    // requester with no check running (or no linked request at all: other kinds), else the oldest
    // due job. FIFO within each group. The first branch walks the (status, kind, available_at)
    // index in order and stops at the first such job, so it reads past at most the queued jobs of
    // busy requesters; each test is a seek in requests_job_idx, then in the partial
    // requests_requester_checking_idx (written with the literal 'checking' so it applies), then a
    // primary-key read of that request's job.
    due: db.sqlite.prepare<{ kind: string; at: string }, JobCandidate>(`
      SELECT id, at, deferred FROM (
        SELECT id, at, 0 AS deferred FROM (
          SELECT j.id AS id, j.available_at AS at FROM jobs j
          WHERE j.status = 'queued' AND j.kind = @kind AND j.available_at <= @at
            AND (
              NOT EXISTS (SELECT 1 FROM requests r WHERE r.job_id = j.id)
              OR EXISTS (
                SELECT 1 FROM requests r WHERE r.job_id = j.id AND NOT EXISTS (
                  SELECT 1 FROM requests o JOIN jobs oj ON oj.id = o.job_id
                  WHERE o.requested_by = r.requested_by AND o.status = 'checking' AND oj.status = 'running'
                )
              )
            )
          ORDER BY j.available_at, j.id LIMIT 1
        )
        UNION ALL
        SELECT id, at, 1 AS deferred FROM (
          SELECT id, available_at AS at FROM jobs
          WHERE status = 'queued' AND kind = @kind AND available_at <= @at
          ORDER BY available_at, id LIMIT 1
        )
      ) ORDER BY deferred LIMIT 1`),
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

  // Built once: better-sqlite3 makes a new wrapper per `transaction()` call.
  const insertTx = db.sqlite.transaction((job: NewJobRow): { row: JobRow; created: boolean } => {
    if (job.key) {
      const active = stmt.findActive.get({ key: job.key });
      if (active) return { row: active, created: false };
    }
    return { row: stmt.insert.get({ ...job })!, created: true };
  });

  return {
    insert: (job) => insertTx.immediate(job),
    get: (id) => stmt.get.get({ id }),
    countByStatus: () =>
      orm.select({ status: jobs.status, n: sql<number>`count(*)` }).from(jobs).groupBy(jobs.status).all(),
    oldestExpired: (kind, at) => byKind.expired.get({ kind, at }),
    oldestDue: (kind, at) => byKind.due.get({ kind, at }),
    nextQueuedAt: (kind) => byKind.nextQueued.get({ kind })?.at,
    nextLeaseExpiry: (kind) => byKind.nextLease.get({ kind })?.at,
    claim: (id, owner, leaseExpiresAt, at) => stmt.claim.get({ id, owner, leaseExpiresAt, at }),
    renew: (id, owner, leaseExpiresAt, at) => stmt.renew.run({ id, owner, leaseExpiresAt, at }).changes === 1,
    complete: (id, owner, result, at) => stmt.complete.run({ id, owner, result, at }).changes === 1,
    requeue: (id, owner, r) =>
      stmt.requeue.run({ id, owner, ...r, giveBack: r.giveBack ? 1 : 0 }).changes === 1,
    fail: (id, owner, error, at) => stmt.fail.run({ id, owner, ...error, at }).changes === 1,
    releaseKey: (id) => {
      stmt.releaseKey.run({ id });
    },
    newestOfKind: (kind) => stmt.newestOfKind.get({ kind }),
  };
}
