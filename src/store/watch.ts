/**
 * The store side of `watch` (src/worker/watch.ts): which approvals are due for a re-check, what
 * each re-check found, and revocation. Kept apart from the decision service (src/store/service.ts)
 * because it is a schedule over decisions, not a decision rule; the one rule it shares, the status
 * `revoked`, is read by the service's `toDecision`.
 *
 * Scheduling is one cheap pass (`schedule`), however many approvals there are:
 * 1. enrol approvals decided since the last pass (decision seq above the highest enrolled one),
 *    due one interval after their decision;
 * 2. read the due rows, oldest first, at most `limit` of them (one covering-index walk).
 * A row whose approval expired, was revoked or superseded is retired by its re-check job (its
 * `due_at` goes to RETIRED, out of the due index's way), which looks the decision up anyway.
 * Each re-check moves its row's `due_at` one interval on from when it ran, so re-checks stay spread
 * as the approvals were made. Only a backlog (the first pass after `watch` is turned on over old
 * approvals, or a long outage) is due at once; `serve` drains it at a rate that spreads it over
 * one interval (src/worker/watch.ts, `roundBudget`).
 */
import { createHash } from "node:crypto";
import { and, count, eq, lt, sql } from "drizzle-orm";
import { type Async, asyncify, transaction } from "./async.js";
import type { Db } from "./db.js";
import { decisionId, decisionSeq } from "./decisions.js";
import { auditLog, decisions, watchState } from "./schema.js";

/** Defaults, each with why. */
export const WATCH_STORE_DEFAULTS = {
  /**
   * Approvals enrolled per scheduling pass. A new install over many old approvals enrols them over
   * a few passes (a minute apart in `serve`) instead of one long write; ~2,000 rows take ~10 ms.
   */
  enrolBatch: 2000,
};

/** `due_at` of a row whose approval is no longer in force: never due. */
export const RETIRED = "9999-12-31T00:00:00.000Z";

/** Who revokes: the decisions JSON's `decidedBy` of a revoked approval. */
export const WATCH_ACTOR = "watch";

/** One thing a re-check found new since the approval (see src/checks/watch.ts). */
export interface WatchChangeRecord {
  id: string;
  severity: string;
  title: string;
  /** A vulnerability finding's ids that the approval did not see. */
  vulnerabilities?: string[];
}

/** A re-check that is due. */
export interface DueRecheck {
  /** `dec_<seq>` of the approval. */
  decisionId: string;
  /** The `due_at` it was due at: the re-check's idempotency key (a second run finds it moved). */
  dueAt: string;
}

/** What the store knows about the re-checks of one approval. */
export interface WatchRecord {
  decisionId: string;
  dueAt: string;
  lastCheckedAt: string | null;
  lastReportId: string | null;
  /** What the last finished re-check found new since the approval; null: nothing. */
  changes: WatchChangeRecord[] | null;
  notifiedKey: string | null;
  expiryAnnouncedAt: string | null;
}

/** One scheduling pass's inputs (`WatchStore.schedule`). */
export interface ScheduleOptions {
  /** Hours between the re-checks of one approval. */
  intervalHours: number;
  /** At most this many due re-checks are returned. */
  limit: number;
}

/** What one finished re-check records, in one transaction (`recordRecheck`). */
export interface RecheckResult {
  decisionId: string;
  /** The `dueAt` of the job: the record is written only while the row is still due at that time. */
  dueAt: string;
  now: Date;
  intervalHours: number;
  /** False when the re-check could not finish: nothing about the image is recorded, the next one is scheduled. */
  finished: boolean;
  changes: WatchChangeRecord[];
  reportId?: string | null;
  /** Record that the changes were told (their key). */
  notified?: boolean;
  /** Record that the coming expiry was announced. */
  expiryAnnounced?: boolean;
  /** Revoke the approval, with this one-line reason. */
  revoke?: { reason: string } | null;
}

/** The store side of `watch`, synchronous as SQLite runs it (callers use `WatchStore`). */
interface SyncWatchStore {
  /** One scheduling pass at `now` (see the module comment). */
  schedule(now: Date, opts: ScheduleOptions): DueRecheck[];
  /** How many approvals are watched (not retired): the size of one round. */
  watchedCount(): number;
  /** The watch row of an approval, or null when it was never scheduled. */
  get(decisionId: string): WatchRecord | null;
  /** Take an approval out of the schedule (it expired, was revoked or superseded). */
  retire(decisionId: string, now: Date): void;
  /**
   * Record a re-check: move `due_at` one interval on, and (when finished) its changes, what was
   * told, and the revocation with its audit entry. Returns false, writing nothing, when the row is
   * no longer due at `dueAt` (an earlier run of the same job already recorded it).
   */
  recordRecheck(result: RecheckResult): boolean;
  /** Approvals whose last re-check found changes and that still stand ("needs another look"), newest first. */
  flagged(
    limit: number,
  ): { decisionId: string; changes: WatchChangeRecord[]; lastCheckedAt: string | null }[];
}

/**
 * The store side of `watch` (see `SyncWatchStore` for each method), every method returning a
 * Promise; on SQLite here, on PostgreSQL in ./pg-watch.ts.
 */
export type WatchStore = Async<SyncWatchStore> & {
  /**
   * Run `fn` in one write transaction; nested store writes join it (savepoints). On SQLite
   * (IMMEDIATE) other work of the process waits until it ended (./async.ts).
   */
  transaction<T>(fn: () => Promise<T> | T): Promise<T>;
};

/**
 * The key of a set of changes: equal for the same ids at the same severities covering the same new
 * vulnerabilities, in any order (so a second new CVE in the same finding is told too).
 */
export function changesKey(changes: readonly WatchChangeRecord[]): string | null {
  if (changes.length === 0) return null;
  const canonical = changes
    .map(
      (c) => `${c.id}:${c.severity}${c.vulnerabilities ? `:${[...c.vulnerabilities].sort().join("+")}` : ""}`,
    )
    .sort()
    .join(",");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 32);
}

/** A watch_state row (the same columns on both engines). */
export type WatchRow = typeof watchState.$inferSelect;

/** A watch_state row as `WatchStore.get` returns it. */
export function toWatchRecord(r: WatchRow): WatchRecord {
  return {
    decisionId: decisionId(r.decisionSeq),
    dueAt: r.dueAt,
    lastCheckedAt: r.lastCheckedAt,
    lastReportId: r.lastReportId,
    changes: r.changes === null ? null : (JSON.parse(r.changes) as WatchChangeRecord[]),
    notifiedKey: r.notifiedKey,
    expiryAnnouncedAt: r.expiryAnnouncedAt,
  };
}

/**
 * What recording `r` writes to its watch_state row (the same on both engines): `due_at` one
 * interval on (or RETIRED when it revokes) and, when the re-check finished, what it found and told.
 */
export function recheckColumns(r: RecheckResult): Partial<WatchRow> {
  const at = r.now.toISOString();
  const next = new Date(r.now.getTime() + r.intervalHours * 3_600_000).toISOString();
  return {
    dueAt: r.revoke ? RETIRED : next,
    updatedAt: at,
    ...(r.finished
      ? {
          lastCheckedAt: at,
          changes: r.changes.length ? JSON.stringify(r.changes) : null,
          ...(r.reportId !== undefined ? { lastReportId: r.reportId } : {}),
          ...(r.notified ? { notifiedKey: changesKey(r.changes) } : {}),
        }
      : {}),
    ...(r.expiryAnnounced ? { expiryAnnouncedAt: at } : {}),
  };
}

/** The detail of the audit entry of a revocation by watch (the same on both engines). */
export function revocationDetail(r: RecheckResult & { revoke: { reason: string } }): string {
  return JSON.stringify({ decisionId: r.decisionId, reason: r.revoke.reason, changes: r.changes });
}

/** The statements over an open database, prepared once. */
export function openWatchStore(db: Db): WatchStore {
  const orm = db.orm;
  const ph = sql.placeholder;
  const stmt = {
    // `+d.decision` keeps SQLite off the (decision, decided_at) index: the rowid range above the
    // highest enrolled seq is the short walk, however many decisions the store holds.
    enrol: db.sqlite.prepare(
      `INSERT INTO watch_state (decision_seq, due_at, updated_at)
       SELECT d.seq, strftime('%Y-%m-%dT%H:%M:%fZ', d.decided_at, '+' || @seconds || ' seconds'), @now
       FROM decisions d
       WHERE d.seq > (SELECT coalesce(max(decision_seq), 0) FROM watch_state)
         AND +d.decision = 'approved' AND d.revoked_at IS NULL
         AND (d.expires_at IS NULL OR d.expires_at > @now)
       ORDER BY d.seq LIMIT @batch`,
    ),
    // Only the covering index is read: whether each approval is still in force is the re-check
    // job's first look-up (it retires the ones that are not), so the pass stays one index walk.
    due: db.sqlite
      .prepare(
        "SELECT decision_seq, due_at FROM watch_state WHERE due_at <= @now ORDER BY due_at LIMIT @limit",
      )
      .raw(true),
    watched: orm.select({ n: count() }).from(watchState).where(lt(watchState.dueAt, RETIRED)).prepare(),
    get: orm
      .select()
      .from(watchState)
      .where(eq(watchState.decisionSeq, ph("seq")))
      .prepare(),
    retire: orm
      .update(watchState)
      .set({ dueAt: RETIRED, updatedAt: sql`${ph("now")}` })
      .where(eq(watchState.decisionSeq, ph("seq")))
      .prepare(),
  };
  // The statements' own transactions: inside an open one (the caller's), they become savepoints.
  const tx = db.sqlite.transaction((fn: () => unknown) => fn());
  const syncTx = <T>(fn: () => T): T => tx.immediate(fn) as T;

  const sync: SyncWatchStore = {
    schedule(now, { intervalHours, limit }) {
      const at = now.toISOString();
      const seconds = Math.round(intervalHours * 3600);
      return syncTx(() => {
        stmt.enrol.run({ now: at, seconds, batch: WATCH_STORE_DEFAULTS.enrolBatch });
        const rows = stmt.due.all({ now: at, limit }) as [number, string][];
        return rows.map(([seq, dueAt]) => ({ decisionId: decisionId(seq), dueAt }));
      });
    },

    watchedCount() {
      return stmt.watched.get()?.n ?? 0;
    },

    get(decisionId) {
      const seq = decisionSeq(decisionId);
      const row = seq === null ? undefined : stmt.get.get({ seq });
      return row ? toWatchRecord(row) : null;
    },

    retire(decisionId, now) {
      const seq = decisionSeq(decisionId);
      if (seq !== null) stmt.retire.run({ seq, now: now.toISOString() });
    },

    recordRecheck(r) {
      const seq = decisionSeq(r.decisionId);
      if (seq === null) return false;
      const at = r.now.toISOString();
      return syncTx(() => {
        const row = stmt.get.get({ seq });
        if (!row || row.dueAt !== r.dueAt) return false;
        orm.update(watchState).set(recheckColumns(r)).where(eq(watchState.decisionSeq, seq)).run();
        if (r.finished && r.revoke) {
          const revoked = orm
            .update(decisions)
            .set({ revokedAt: at, revokedBy: WATCH_ACTOR, revokeReason: r.revoke.reason })
            .where(and(eq(decisions.seq, seq), sql`${decisions.revokedAt} IS NULL`))
            .returning({ requestId: decisions.requestId })
            .get();
          if (revoked)
            orm
              .insert(auditLog)
              .values({
                at,
                actor: WATCH_ACTOR,
                action: "decision.revoked",
                requestId: revoked.requestId,
                detail: revocationDetail({ ...r, revoke: r.revoke }),
              })
              .run();
        }
        return true;
      });
    },

    flagged(limit) {
      const rows = db.sqlite
        .prepare(
          `SELECT w.decision_seq AS seq, w.changes AS changes, w.last_checked_at AS lastCheckedAt
           FROM watch_state w JOIN decisions d ON d.seq = w.decision_seq
           WHERE w.changes IS NOT NULL AND w.due_at < '${RETIRED}' AND d.revoked_at IS NULL
           ORDER BY w.last_checked_at DESC LIMIT ?`,
        )
        .all(limit) as { seq: number; changes: string; lastCheckedAt: string | null }[];
      return rows.map((r) => ({
        decisionId: decisionId(r.seq),
        changes: JSON.parse(r.changes) as WatchChangeRecord[],
        lastCheckedAt: r.lastCheckedAt,
      }));
    },
  };
  return { ...asyncify(db, sync), transaction: (fn) => transaction(db, fn) };
}
