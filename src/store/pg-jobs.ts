/**
 * The durable queue's claims on PostgreSQL: the same `jobs` table and the same lease rules as the
 * SQLite statements in src/store/jobs.ts, made safe across processes by row locks instead of
 * SQLite's single writer. Async, as node-postgres is; the worker moves onto it when the store
 * interface becomes async (docs/postgres.md).
 *
 * A claim is one statement: pick the oldest claimable job of the given kinds (queued and due, or
 * running under an expired lease) with `FOR UPDATE SKIP LOCKED`, and start an attempt on it under a
 * lease. A row another claim has locked is skipped, not waited for; a row it has just claimed no
 * longer matches (running, lease in the future) when the lock is taken, so no job is claimed twice.
 * https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE
 */
import { and, asc, eq, inArray, lte, or, sql } from "drizzle-orm";
import type { JobRow, NewJobRow } from "./jobs.js";
import type { PostgresDb } from "./postgres.js";
import { jobs } from "./schema.pg.js";

/** The job statements over PostgreSQL; every write that concerns a claimed job takes its owner. */
export interface PgJobTable {
  /** Insert a queued job, unless a queued or running job has the same idempotency key: then that one, `created` false. */
  insert(job: NewJobRow): Promise<{ row: JobRow; created: boolean }>;
  get(id: number): Promise<JobRow | undefined>;
  /** Claim the oldest claimable job of `kinds` and start an attempt; undefined when none is. */
  claim(
    kinds: readonly string[],
    owner: string,
    leaseExpiresAt: string,
    at: string,
  ): Promise<JobRow | undefined>;
  /** Extend the lease; false when the job is no longer ours. */
  renew(id: number, owner: string, leaseExpiresAt: string, at: string): Promise<boolean>;
  /** Finish with a result; false when the job is no longer ours. */
  complete(id: number, owner: string, result: string | null, at: string): Promise<boolean>;
}

/** The job statements over an open PostgreSQL store. */
export function openPgJobTable(db: PostgresDb): PgJobTable {
  const orm = db.orm;
  const ownedRunning = (id: number, owner: string) =>
    and(eq(jobs.id, id), eq(jobs.status, "running"), eq(jobs.leaseOwner, owner));

  return {
    async insert(job) {
      return orm.transaction(async (tx) => {
        // ON CONFLICT on the partial unique index: a concurrent insert of the same key waits for
        // the other transaction, then does nothing; the active job is then read back.
        const inserted = await tx
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
          .onConflictDoNothing({
            target: jobs.idempotencyKey,
            where: sql`${jobs.status} IN ('queued','running')`,
          })
          .returning();
        if (inserted[0]) return { row: inserted[0], created: true };
        const [active] = await tx
          .select()
          .from(jobs)
          .where(and(eq(jobs.idempotencyKey, job.key ?? ""), sql`${jobs.status} IN ('queued','running')`))
          .limit(1);
        if (!active) throw new Error("jobs: an insert conflicted with an active job that is gone");
        return { row: active, created: false };
      });
    },

    async get(id) {
      const [row] = await orm.select().from(jobs).where(eq(jobs.id, id));
      return row;
    },

    async claim(kinds, owner, leaseExpiresAt, at) {
      if (kinds.length === 0) return undefined;
      const next = orm
        .select({ id: jobs.id })
        .from(jobs)
        .where(
          and(
            inArray(jobs.kind, [...kinds]),
            or(
              and(eq(jobs.status, "queued"), lte(jobs.availableAt, at)),
              and(eq(jobs.status, "running"), lte(jobs.leaseExpiresAt, at)),
            ),
          ),
        )
        // The job waiting longest: due longest ago, or whose lease expired longest ago.
        .orderBy(
          asc(
            sql`CASE WHEN ${jobs.status} = 'running' THEN ${jobs.leaseExpiresAt} ELSE ${jobs.availableAt} END`,
          ),
          asc(jobs.id),
        )
        .limit(1)
        .for("update", { skipLocked: true });
      const [row] = await orm
        .update(jobs)
        .set({
          status: "running",
          attempts: sql`${jobs.attempts} + 1`,
          leaseOwner: owner,
          leaseExpiresAt,
          updatedAt: at,
        })
        .where(inArray(jobs.id, next))
        .returning();
      return row;
    },

    async renew(id, owner, leaseExpiresAt, at) {
      const rows = await orm
        .update(jobs)
        .set({ leaseExpiresAt, updatedAt: at })
        .where(ownedRunning(id, owner))
        .returning({ id: jobs.id });
      return rows.length === 1;
    },

    async complete(id, owner, result, at) {
      const rows = await orm
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
  };
}
