/**
 * The store side of `watch` on PostgreSQL: the same schedule, records and revocation as the SQLite
 * statements in ./watch.ts (read its header for how scheduling works), made safe for several
 * replicas sharing the database. The rules both engines share (what a re-check writes, the changes
 * key, RETIRED, who revokes) live in ./watch.ts; this module only says them in PostgreSQL.
 *
 * What differs from SQLite's single writer:
 * - Two replicas may schedule at once (`serve` runs the round under an advisory lock, ./pg-lock.ts,
 *   but the statements do not rely on it): the enrolment is `INSERT ... ON CONFLICT DO NOTHING`, so
 *   the second waits for the first's rows and enrols none of them again.
 * - Sequence numbers are handed out when a decision is inserted, not when it commits, so a decision
 *   can commit after one with a higher seq was enrolled. Each pass therefore looks a window of seqs
 *   back from the highest enrolled one (`lateCommitWindow`) for approvals not yet enrolled.
 * - Recording a re-check is one conditional `UPDATE ... WHERE due_at = <the job's due time>`: of two
 *   replicas recording the same re-check, the second waits for the first's row lock, finds the row
 *   moved on, and writes nothing.
 */
import { and, asc, count, desc, eq, isNull, lt, lte, sql } from "drizzle-orm";
import { decisionId, decisionSeq } from "./decisions.js";
import type { PgScope } from "./pg-scope.js";
import { auditLog, decisions, watchState } from "./schema.pg.js";
import {
  RETIRED,
  recheckColumns,
  revocationDetail,
  toWatchRecord,
  WATCH_ACTOR,
  WATCH_STORE_DEFAULTS,
  type WatchChangeRecord,
  type WatchStore,
} from "./watch.js";

/** Defaults, each with why (the enrolment batch is shared: WATCH_STORE_DEFAULTS in ./watch.ts). */
export const PG_WATCH_STORE_DEFAULTS = {
  /**
   * Seqs below the highest enrolled one that a pass looks at again for approvals that committed
   * late. A decision holds its seq only while its transaction runs (milliseconds); to fall out of
   * this window, a thousand other decisions would have to commit meanwhile, far beyond how fast
   * people decide. Looking costs one primary-key range walk of this many rows per pass.
   */
  lateCommitWindow: 1000,
};

/** The watch schedule over the PostgreSQL store whose transactions `scope` shares. */
export function openPgWatchStore(scope: PgScope): WatchStore {
  const { q, tx } = scope;

  return {
    async schedule(now, { intervalHours, limit }) {
      const at = now.toISOString();
      const seconds = Math.round(intervalHours * 3600);
      return await tx(async () => {
        // Due one interval after the decision, written in the ISO form every timestamp column holds.
        await q().execute(sql`
          INSERT INTO watch_state (decision_seq, due_at, updated_at)
          SELECT d.seq,
                 to_char((d.decided_at::timestamptz + ${seconds}::int * interval '1 second') AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                 ${at}
          FROM decisions d
          WHERE d.seq > (SELECT coalesce(max(decision_seq), 0) FROM watch_state) - ${PG_WATCH_STORE_DEFAULTS.lateCommitWindow}::bigint
            AND d.decision = 'approved' AND d.revoked_at IS NULL
            AND (d.expires_at IS NULL OR d.expires_at > ${at})
            AND NOT EXISTS (SELECT 1 FROM watch_state w WHERE w.decision_seq = d.seq)
          ORDER BY d.seq
          LIMIT ${WATCH_STORE_DEFAULTS.enrolBatch}
          ON CONFLICT (decision_seq) DO NOTHING`);
        const rows = await q()
          .select({ seq: watchState.decisionSeq, dueAt: watchState.dueAt })
          .from(watchState)
          .where(lte(watchState.dueAt, at))
          .orderBy(asc(watchState.dueAt), asc(watchState.decisionSeq))
          .limit(limit);
        return rows.map((r) => ({ decisionId: decisionId(r.seq), dueAt: r.dueAt }));
      });
    },

    async watchedCount() {
      const [row] = await q().select({ n: count() }).from(watchState).where(lt(watchState.dueAt, RETIRED));
      return row?.n ?? 0;
    },

    async get(id) {
      const seq = decisionSeq(id);
      if (seq === null) return null;
      const [row] = await q().select().from(watchState).where(eq(watchState.decisionSeq, seq));
      return row ? toWatchRecord(row) : null;
    },

    async retire(id, now) {
      const seq = decisionSeq(id);
      if (seq === null) return;
      await q()
        .update(watchState)
        .set({ dueAt: RETIRED, updatedAt: now.toISOString() })
        .where(eq(watchState.decisionSeq, seq));
    },

    async recordRecheck(r) {
      const seq = decisionSeq(r.decisionId);
      if (seq === null) return false;
      const at = r.now.toISOString();
      return await tx(async () => {
        // The row lock this takes makes a second recording of the same due time wait, then find
        // `due_at` moved on (READ COMMITTED re-reads the row it waited for) and update nothing.
        const moved = await q()
          .update(watchState)
          .set(recheckColumns(r))
          .where(and(eq(watchState.decisionSeq, seq), eq(watchState.dueAt, r.dueAt)))
          .returning({ seq: watchState.decisionSeq });
        if (moved.length === 0) return false;
        if (r.finished && r.revoke) {
          const [revoked] = await q()
            .update(decisions)
            .set({ revokedAt: at, revokedBy: WATCH_ACTOR, revokeReason: r.revoke.reason })
            .where(and(eq(decisions.seq, seq), isNull(decisions.revokedAt)))
            .returning({ requestId: decisions.requestId });
          if (revoked)
            await q()
              .insert(auditLog)
              .values({
                at,
                actor: WATCH_ACTOR,
                action: "decision.revoked",
                requestId: revoked.requestId,
                detail: revocationDetail({ ...r, revoke: r.revoke }),
              });
        }
        return true;
      });
    },

    async flagged(limit) {
      const rows = await q()
        .select({
          seq: watchState.decisionSeq,
          changes: watchState.changes,
          lastCheckedAt: watchState.lastCheckedAt,
        })
        .from(watchState)
        .innerJoin(decisions, eq(decisions.seq, watchState.decisionSeq))
        .where(
          and(
            sql`${watchState.changes} IS NOT NULL`,
            lt(watchState.dueAt, RETIRED),
            isNull(decisions.revokedAt),
          ),
        )
        // NULLS LAST: where SQLite sorts them (it counts NULL as the smallest value).
        .orderBy(sql`${watchState.lastCheckedAt} DESC NULLS LAST`, desc(watchState.decisionSeq))
        .limit(limit);
      return rows.map((r) => ({
        decisionId: decisionId(r.seq),
        changes: JSON.parse(r.changes ?? "[]") as WatchChangeRecord[],
        lastCheckedAt: r.lastCheckedAt,
      }));
    },

    transaction: (fn) => tx(async () => await fn()),
  };
}
