/**
 * The durable queue's statements on PostgreSQL (`JobStatements`, ./jobs.ts): the same `jobs` table
 * and the same lease rules as SQLite's, made safe across processes by row locks instead of SQLite's
 * single writer. They run in the caller's transaction when it has one (./pg-scope.ts), so a check
 * job's store writes and its queue writes commit together.
 *
 * A claim is one statement: the UPDATE that starts an attempt takes the id of the first job found by
 * three sub-selects, tried in order (COALESCE evaluates the next only while the earlier ones found
 * nothing): a running job whose lease expired, oldest expiry first; a due queued job with a
 * requester who has no check running, oldest first; any due queued job, oldest first. Each locks
 * the row it returns with `FOR UPDATE SKIP LOCKED`: a row another claim holds is skipped, not waited
 * for, and a row it has just claimed no longer matches (running, lease in the future) once the lock
 * is free, so no job is claimed twice, and each walk stops at its first match on the indexes.
 * https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE
 * https://www.postgresql.org/docs/15/functions-conditional.html#FUNCTIONS-COALESCE-NVL-IFNULL
 */
import { and, asc, desc, eq, inArray, lte, type SQL, sql } from "drizzle-orm";
import type { JobStatements } from "./jobs.js";
import { named, type PgScope } from "./pg-scope.js";
import { jobs } from "./schema.pg.js";

const statements = new WeakMap<PgScope, JobStatements>();

/** The channel a job that becomes queued is notified on (migrations/postgres/0005). */
const JOBS_CHANNEL = "image_check_jobs";

/**
 * Every requester of the job already has a check running (the requests linked by `job_id`), the
 * same rule as SQLite's fair claim: such a job waits while another requester's job is due. Jobs
 * with no linked request (re-checks, Slack posts) are never deferred.
 */
const deferred: SQL = sql`EXISTS (SELECT 1 FROM requests r WHERE r.job_id = ${jobs.id})
  AND NOT EXISTS (
    SELECT 1 FROM requests r WHERE r.job_id = ${jobs.id} AND NOT EXISTS (
      SELECT 1 FROM requests o JOIN jobs oj ON oj.id = o.job_id
      WHERE o.requested_by = r.requested_by AND o.status = 'checking' AND oj.status = 'running'))`;

/** The job statements of a PostgreSQL store, one set per scope. */
export function pgJobStatements(scope: PgScope): JobStatements {
  const existing = statements.get(scope);
  if (existing) return existing;
  const { q, tx } = scope;
  const ownedRunning = (id: number, owner: string) =>
    and(eq(jobs.id, id), eq(jobs.status, "running"), eq(jobs.leaseOwner, owner));
  const active = sql`${jobs.status} IN ('queued','running')`;

  const out: JobStatements = {
    insert: (job) =>
      tx(async () => {
        // ON CONFLICT on the partial unique index: a concurrent insert of the same key waits for
        // the other transaction, then does nothing. The active job is then read back and locked
        // (FOR SHARE) until the caller's transaction ends, so the replica finishing that job, which
        // frees its key first thing (FOR UPDATE), waits for the caller's link to it to commit and
        // then sees it. When that replica freed the key just before, the row no longer matches
        // once its lock is free: insert again, as a new job.
        for (let round = 0; round < 3; round++) {
          const inserted = await q()
            .insert(jobs)
            .values({
              kind: job.kind,
              payload: job.payload,
              status: "queued",
              attempts: 0,
              maxAttempts: job.maxAttempts,
              availableAt: job.availableAt,
              idempotencyKey: job.key,
              createdAt: job.at,
              updatedAt: job.at,
            })
            .onConflictDoNothing({ target: jobs.idempotencyKey, where: active })
            .returning();
          if (inserted[0]) return { row: inserted[0], created: true };
          const [row] = await q()
            .select()
            .from(jobs)
            .where(and(eq(jobs.idempotencyKey, job.key ?? ""), active))
            .limit(1)
            .for("share");
          if (row) return { row, created: false };
        }
        throw new Error("jobs: an insert kept conflicting with an active job that then ended");
      }),

    async get(id) {
      const [row] = await q().select().from(jobs).where(eq(jobs.id, id));
      return row;
    },

    async countByStatus() {
      const rows = await q()
        .select({ status: jobs.status, n: sql<string>`count(*)` })
        .from(jobs)
        .groupBy(jobs.status);
      return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
    },

    async claimNext(kinds, owner, leaseExpiresAt, at) {
      if (kinds.length === 0) return undefined;
      const ofKinds = inArray(jobs.kind, [...kinds]);
      const first = (where: SQL | undefined, order: SQL[]) =>
        q()
          .select({ id: jobs.id })
          .from(jobs)
          .where(where)
          .orderBy(...order)
          .limit(1)
          .for("update", { skipLocked: true });
      const expired = first(and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, at), ofKinds), [
        asc(jobs.leaseExpiresAt),
        asc(jobs.id),
      ]);
      const due = and(eq(jobs.status, "queued"), ofKinds, lte(jobs.availableAt, at));
      const fair = first(and(due, sql`NOT (${deferred})`), [asc(jobs.availableAt), asc(jobs.id)]);
      const any = first(due, [asc(jobs.availableAt), asc(jobs.id)]);
      // A named statement: planning this one (three sub-selects, the fair rule's joins) cost more
      // than running it, and its text is the same for every claim of the same kinds.
      const [row] = await named(
        q()
          .update(jobs)
          .set({
            status: "running",
            attempts: sql`${jobs.attempts} + 1`,
            leaseOwner: owner,
            leaseExpiresAt,
            updatedAt: at,
          })
          .where(eq(jobs.id, sql`COALESCE((${expired}), (${fair}), (${any}))`))
          .returning(),
      );
      return row;
    },

    async renew(id, owner, leaseExpiresAt, at) {
      const rows = await q()
        .update(jobs)
        .set({ leaseExpiresAt, updatedAt: at })
        .where(ownedRunning(id, owner))
        .returning({ id: jobs.id });
      return rows.length === 1;
    },

    async complete(id, owner, result, at) {
      const rows = await q()
        .update(jobs)
        .set({
          status: "done",
          result,
          leaseOwner: null,
          leaseExpiresAt: null,
          updatedAt: at,
          finishedAt: at,
        })
        .where(ownedRunning(id, owner))
        .returning({ id: jobs.id });
      return rows.length === 1;
    },

    async requeue(id, owner, r) {
      const rows = await q()
        .update(jobs)
        .set({
          status: "queued",
          attempts: sql`GREATEST(${jobs.attempts} - ${r.giveBack ? 1 : 0}, 0)`,
          availableAt: r.availableAt,
          leaseOwner: null,
          leaseExpiresAt: null,
          lastErrorCode: sql`coalesce(${r.code}::text, ${jobs.lastErrorCode})`,
          lastErrorMessage: sql`coalesce(${r.message}::text, ${jobs.lastErrorMessage})`,
          updatedAt: r.at,
        })
        .where(ownedRunning(id, owner))
        .returning({ id: jobs.id });
      return rows.length === 1;
    },

    async fail(id, owner, error, at) {
      const rows = await q()
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
        .returning({ id: jobs.id });
      return rows.length === 1;
    },

    async releaseKey(id) {
      await q().update(jobs).set({ idempotencyKey: null }).where(eq(jobs.id, id));
    },

    async nextDueAt(kinds) {
      if (kinds.length === 0) return null;
      const ofKinds = inArray(jobs.kind, [...kinds]);
      const [row] = await q()
        .select({
          queued: sql<
            string | null
          >`(SELECT min(${jobs.availableAt}) FROM ${jobs} WHERE ${jobs.status} = 'queued' AND ${ofKinds})`,
          lease: sql<
            string | null
          >`(SELECT min(${jobs.leaseExpiresAt}) FROM ${jobs} WHERE ${jobs.status} = 'running' AND ${ofKinds})`,
        })
        .from(sql`(SELECT 1) AS one`);
      const times = [row?.queued, row?.lease].filter((t): t is string => typeof t === "string");
      return times.length ? times.sort()[0]! : null;
    },

    // The trigger of migrations/postgres/0005 notifies this channel with the job's kind.
    onQueued: (fn) => scope.db.listen(JOBS_CHANNEL, fn),

    async newestOfKind(kind) {
      const [row] = await q().select().from(jobs).where(eq(jobs.kind, kind)).orderBy(desc(jobs.id)).limit(1);
      return row;
    },
  };
  statements.set(scope, out);
  return out;
}
