/**
 * The store service (src/store/api.ts): repositories over the drizzle schema plus the decision
 * rules and their errors. Every state change writes its audit entry in the same transaction.
 */
import { createHash, randomBytes as nodeRandomBytes } from "node:crypto";
import { and, desc, eq, gt, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Report } from "../checks/report.js";
import type {
  AuditEntry,
  CreateRequestInput,
  DecideInput,
  DecisionListItem,
  DecisionQuery,
  DecisionRecord,
  OpenStoreOptions,
  Page,
  PageQuery,
  PendingDecisionRow,
  RequestRecord,
  StatusAnswer,
  Store,
} from "./api.js";
import { StoreError } from "./api.js";
import { type Db, openDb } from "./db.js";
import { auditLog, decisions, reports, requests, tagObservations } from "./schema.js";

/** Defaults, each with why. */
export const STORE_DEFAULTS = {
  /** A Slack message or a terminal screen shows about this many rows. */
  pageSize: 20,
  /** Bounds the work of one query (and of one `--limit`): larger exports page. */
  maxPageSize: 500,
  /** Who `decidedBy` is when the policy approves a `pass` without asking IT. */
  policyActor: "policy",
};

const DAY_MS = 86_400_000;

type RequestRow = typeof requests.$inferSelect;
type DecisionRow = typeof decisions.$inferSelect;
type Tx = Pick<Db["orm"], "select" | "insert" | "update">;

/** The store with its database and the job links, for src/worker (the queue lives in the same file) and backups. */
export interface OpenedStore extends Store {
  readonly db: Db;
  /** Note that `requestId` waits on check job `jobId` (identical requests share one job). */
  linkJob(requestId: string, jobId: number): void;
  /** The requests waiting on check job `jobId`, oldest first. */
  requestsOfJob(jobId: number, now?: Date): RequestRecord[];
}

/** Open (creating and migrating as needed) the store at `path`. See `openDb` for the errors. */
export function openStore(path: string, opts: OpenStoreOptions = {}): OpenedStore {
  const db = openDb(path, { readonly: opts.readonly, migrate: opts.migrate });
  return createStore(db, opts);
}

/** The store service over an open database. */
export function createStore(db: Db, opts: Pick<OpenStoreOptions, "randomBytes"> = {}): OpenedStore {
  const orm = db.orm;
  const random = opts.randomBytes ?? ((n: number) => nodeRandomBytes(n));

  function requireRequest(tx: Tx, id: string): RequestRow {
    const row = tx.select().from(requests).where(eq(requests.id, id)).get();
    if (!row) throw new StoreError("NOT_FOUND", `no request ${id}`);
    return row;
  }

  function audit(
    tx: Tx,
    at: Date,
    actor: string,
    action: string,
    requestId: string | null,
    detail: unknown,
  ): void {
    tx.insert(auditLog)
      .values({
        at: at.toISOString(),
        actor,
        action,
        requestId,
        detail: detail === undefined ? null : JSON.stringify(detail),
      })
      .run();
  }

  /** Store a report (content-addressed: the same report twice is one row); returns its id. */
  function insertReport(tx: Tx, report: Report, digest: string | null, now: Date): string {
    const json = JSON.stringify(report);
    const id = `rep_${createHash("sha256").update(json).digest("hex").slice(0, 32)}`;
    tx.insert(reports)
      .values({
        id,
        digest,
        policyVersion: report.policyVersion ?? "",
        repository: `${report.image.registry}/${report.image.repository}`,
        reference: report.reference,
        verdict: report.verdict,
        checkedAt: report.checkedAt,
        json,
        createdAt: now.toISOString(),
      })
      .onConflictDoNothing({ target: reports.id })
      .run();
    return id;
  }

  function recordDecision(
    tx: Tx,
    req: RequestRow,
    decision: "approved" | "rejected",
    decidedBy: string,
    reason: string | null,
    now: Date,
    expireDays: number,
  ): DecisionRecord {
    if (req.status === "approved" || req.status === "rejected")
      throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already ${req.status}`);
    if (req.status !== "pending" || !req.digest)
      throw new StoreError(
        "NOT_DECIDABLE",
        `request ${req.id} is ${req.status}: only a checked, pending request can be decided`,
      );
    const decidedAt = now.toISOString();
    const expiresAt =
      decision === "approved" && expireDays > 0
        ? new Date(now.getTime() + expireDays * DAY_MS).toISOString()
        : null;
    // The guard against a concurrent decider: only the transaction that moves the request out of
    // `pending` may write a decision (the UNIQUE request_id on decisions is the second lock).
    const moved = tx
      .update(requests)
      .set({ status: decision, expiresAt, updatedAt: decidedAt })
      .where(and(eq(requests.id, req.id), eq(requests.status, "pending")))
      .run();
    if (moved.changes !== 1) throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`);
    let row: DecisionRow;
    try {
      row = tx
        .insert(decisions)
        .values({
          requestId: req.id,
          repository: req.repository,
          reference: req.reference,
          digest: req.digest,
          decision,
          decidedBy,
          requestedBy: req.requestedBy,
          reason: reason ?? req.reason,
          decidedAt,
          expiresAt,
        })
        .returning()
        .get();
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`, { cause: err });
      throw err;
    }
    audit(tx, now, decidedBy, `decision.${decision}`, req.id, {
      decisionId: decisionId(row.seq),
      digest: req.digest,
      reason: row.reason,
      expiresAt,
    });
    return toDecision(row, now);
  }

  function newestDecision(repository: string, digest: string): DecisionRow | undefined {
    return orm
      .select()
      .from(decisions)
      .where(and(eq(decisions.repository, repository), eq(decisions.digest, digest)))
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(1)
      .get();
  }

  function queryDecisions(filters: SQL[], q: PageQuery, now: Date): Page<DecisionRecord> {
    const limit = pageSize(q.limit);
    const rows = orm
      .select()
      .from(decisions)
      .where(and(...filters, beforeCursor(decisions.decidedAt, decisions.seq, q.before)))
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(limit + 1)
      .all();
    const page = cutPage(rows, limit, (r) => [r.decidedAt, r.seq]);
    return { items: page.items.map((r) => toDecision(r, now)), next: page.next };
  }

  function queryPending(filters: SQL[], q: PageQuery): Page<RequestRow> {
    const limit = pageSize(q.limit);
    const rows = orm
      .select()
      .from(requests)
      .where(
        and(
          eq(requests.status, "pending"),
          ...filters,
          beforeCursor(requests.createdAt, requests.seq, q.before),
        ),
      )
      .orderBy(desc(requests.createdAt), desc(requests.seq))
      .limit(limit + 1)
      .all();
    return cutPage(rows, limit, (r) => [r.createdAt, r.seq]);
  }

  function readReport(id: string | null): Report | null {
    if (!id) return null;
    const row = orm.select({ json: reports.json }).from(reports).where(eq(reports.id, id)).get();
    return row ? (JSON.parse(row.json) as Report) : null;
  }

  const store: OpenedStore = {
    db,

    createRequest(input: CreateRequestInput, now: Date): RequestRecord {
      const at = now.toISOString();
      const id = `req_${base32(random(10))}`;
      return orm.transaction(
        (tx) => {
          const row = tx
            .insert(requests)
            .values({
              id,
              reference: input.reference,
              repository: input.repository,
              tag: input.tag,
              digest: input.digest ?? null,
              requestedBy: input.requestedBy,
              source: input.source,
              channel: input.channel ?? null,
              reason: input.reason ?? null,
              status: "checking",
              responseUrl: input.responseUrl ?? null,
              createdAt: at,
              updatedAt: at,
            })
            .returning()
            .get();
          audit(tx, now, input.requestedBy, "request.created", id, {
            reference: input.reference,
            source: input.source,
            channel: input.channel ?? null,
            reason: input.reason ?? null,
          });
          return toRequest(row, now);
        },
        { behavior: "immediate" },
      );
    },

    getRequest(id: string, now?: Date): RequestRecord | null {
      const row = orm.select().from(requests).where(eq(requests.id, id)).get();
      return row ? toRequest(row, now) : null;
    },

    attachReport(requestId: string, report: Report, now: Date): RequestRecord {
      return orm.transaction(
        (tx) => {
          const req = requireRequest(tx, requestId);
          // Idempotent: a re-run after a crash between this commit and the job's completion must
          // not write a second report or move the request again.
          if (req.status !== "checking") return toRequest(req, now);
          const digest = report.image.digest ?? req.digest;
          const reportId = insertReport(tx, report, digest ?? null, now);
          const failed = !digest;
          const row = tx
            .update(requests)
            .set({
              status: failed ? "failed" : "pending",
              digest,
              verdict: report.verdict,
              reportId,
              errorCode: failed ? "NO_DIGEST" : null,
              errorMessage: failed ? "the check could not resolve the image to a digest" : null,
              updatedAt: now.toISOString(),
            })
            .where(eq(requests.id, requestId))
            .returning()
            .get();
          audit(tx, now, "worker", failed ? "request.failed" : "request.checked", requestId, {
            reportId,
            digest,
            verdict: report.verdict,
          });
          return toRequest(row!, now);
        },
        { behavior: "immediate" },
      );
    },

    recordCliReport(report: Report, now: Date, actor = "cli"): string {
      return orm.transaction(
        (tx) => {
          const digest = report.image.digest ?? null;
          const id = insertReport(tx, report, digest, now);
          const { registry, repository, tag } = report.image;
          if (tag && digest) store.recordTagObservation(`${registry}/${repository}`, tag, digest, now);
          audit(tx, now, actor, "report.recorded", null, {
            reportId: id,
            reference: report.reference,
            digest,
            verdict: report.verdict,
          });
          return id;
        },
        { behavior: "immediate" },
      );
    },

    failRequest(requestId: string, error: { code: string; message: string }, now: Date): RequestRecord {
      return orm.transaction(
        (tx) => {
          const req = requireRequest(tx, requestId);
          if (req.status !== "checking") return toRequest(req, now);
          const row = tx
            .update(requests)
            .set({
              status: "failed",
              errorCode: error.code,
              errorMessage: error.message,
              updatedAt: now.toISOString(),
            })
            .where(eq(requests.id, requestId))
            .returning()
            .get();
          audit(tx, now, "worker", "request.failed", requestId, error);
          return toRequest(row!, now);
        },
        { behavior: "immediate" },
      );
    },

    setItMessage(requestId: string, channel: string, ts: string): void {
      const res = orm
        .update(requests)
        .set({ itChannel: channel, itTs: ts })
        .where(eq(requests.id, requestId))
        .run();
      if (res.changes !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    setReason(requestId: string, reason: string, now: Date): RequestRecord {
      return orm.transaction(
        (tx) => {
          const req = requireRequest(tx, requestId);
          const row = tx
            .update(requests)
            .set({ reason, updatedAt: now.toISOString() })
            .where(eq(requests.id, requestId))
            .returning()
            .get();
          audit(tx, now, req.requestedBy, "request.reason", requestId, { reason });
          return toRequest(row!, now);
        },
        { behavior: "immediate" },
      );
    },

    decide(input: DecideInput): DecisionRecord {
      // IMMEDIATE takes the write lock before reading, so the checks below see the latest state;
      // a second process waits (busy_timeout) and then reads the first one's decision.
      return orm.transaction(
        (tx) => {
          const req = requireRequest(tx, input.requestId);
          if (!input.isApprover)
            throw new StoreError("NOT_APPROVER", `${input.decidedBy} is not an approver: ask IT to decide`);
          if (input.decidedBy === req.requestedBy)
            throw new StoreError("SELF_DECISION", "nobody decides their own request: another approver must");
          return recordDecision(
            tx,
            req,
            input.decision,
            input.decidedBy,
            input.reason ?? null,
            input.now,
            input.expireDays,
          );
        },
        { behavior: "immediate" },
      );
    },

    autoApprove(requestId: string, now: Date, expireDays: number): DecisionRecord {
      return orm.transaction(
        (tx) => {
          const req = requireRequest(tx, requestId);
          if (req.status === "pending" && req.verdict !== "pass")
            throw new StoreError("NOT_DECIDABLE", `request ${requestId} did not pass: a person must decide`);
          return recordDecision(tx, req, "approved", STORE_DEFAULTS.policyActor, null, now, expireDays);
        },
        { behavior: "immediate" },
      );
    },

    currentDecision(repository: string, digest: string, now: Date): DecisionRecord | null {
      const row = newestDecision(repository, digest);
      return row ? toDecision(row, now) : null;
    },

    getReport(id: string): Report | null {
      return readReport(id);
    },

    freshReport(digest: string, policyVersion: string, now: Date, maxAgeMs: number): Report | null {
      if (maxAgeMs <= 0) return null;
      const since = new Date(now.getTime() - maxAgeMs).toISOString();
      const row = orm
        .select({ json: reports.json })
        .from(reports)
        .where(
          and(
            eq(reports.digest, digest),
            eq(reports.policyVersion, policyVersion),
            gt(reports.checkedAt, since),
            lte(reports.checkedAt, now.toISOString()),
          ),
        )
        .orderBy(desc(reports.checkedAt))
        .limit(1)
        .get();
      return row ? (JSON.parse(row.json) as Report) : null;
    },

    recordTagObservation(repository: string, tag: string, digest: string, now: Date): void {
      const at = now.toISOString();
      orm
        .insert(tagObservations)
        .values({ repository, tag, digest, firstSeenAt: at, lastSeenAt: at })
        .onConflictDoUpdate({
          target: [tagObservations.repository, tagObservations.tag, tagObservations.digest],
          set: {
            lastSeenAt: sql`max(${tagObservations.lastSeenAt}, excluded.last_seen_at)`,
            times: sql`${tagObservations.times} + 1`,
          },
        })
        .run();
    },

    lastKnownDigest(repository: string, tag: string): string | null {
      const row = orm
        .select({ digest: tagObservations.digest })
        .from(tagObservations)
        .where(and(eq(tagObservations.repository, repository), eq(tagObservations.tag, tag)))
        .orderBy(desc(tagObservations.lastSeenAt), desc(tagObservations.seq))
        .limit(1)
        .get();
      return row?.digest ?? null;
    },

    listDecisions(q: DecisionQuery, now: Date): Page<DecisionListItem> {
      if (q.status === "pending") {
        const filters: SQL[] = [];
        if (q.repository) filters.push(eq(requests.repository, q.repository));
        if (q.digest) filters.push(eq(requests.digest, q.digest));
        const page = queryPending(filters, q);
        return { items: page.items.map(toPendingRow), next: page.next };
      }
      const at = now.toISOString();
      const filters: SQL[] = [];
      if (q.repository) filters.push(eq(decisions.repository, q.repository));
      if (q.digest) filters.push(eq(decisions.digest, q.digest));
      if (q.status === "rejected") filters.push(eq(decisions.decision, "rejected"));
      else if (q.status === "approved")
        filters.push(
          eq(decisions.decision, "approved"),
          or(isNull(decisions.expiresAt), gt(decisions.expiresAt, at))!,
        );
      else if (q.status === "expired")
        filters.push(eq(decisions.decision, "approved"), lte(decisions.expiresAt, at));
      return queryDecisions(filters, q, now);
    },

    pendingRequests(q: PageQuery): Page<RequestRecord> {
      const page = queryPending([], q);
      return { items: page.items.map((r) => toRequest(r)), next: page.next };
    },

    statusOf(repository: string, at: { tag?: string; digest?: string }, now: Date): StatusAnswer {
      const byDigest = at.digest
        ? eq(requests.digest, at.digest)
        : at.tag
          ? eq(requests.tag, at.tag)
          : undefined;
      const reqRow = byDigest
        ? orm
            .select()
            .from(requests)
            .where(and(eq(requests.repository, repository), byDigest))
            .orderBy(desc(requests.createdAt), desc(requests.seq))
            .limit(1)
            .get()
        : undefined;
      // For a tag, the digest it resolved to most recently here: if the tag moved since the last
      // decision, the new digest has none, which is what the asker must learn.
      const digest =
        at.digest ?? (at.tag ? (store.lastKnownDigest(repository, at.tag) ?? reqRow?.digest) : null) ?? null;
      const decisionRow = digest ? newestDecision(repository, digest) : undefined;
      let report = readReport(reqRow?.reportId ?? null);
      if (!report && digest) {
        const row = orm
          .select({ json: reports.json })
          .from(reports)
          .where(eq(reports.digest, digest))
          .orderBy(desc(reports.checkedAt))
          .limit(1)
          .get();
        report = row ? (JSON.parse(row.json) as Report) : null;
      }
      return {
        request: reqRow ? toRequest(reqRow, now) : null,
        decision: decisionRow ? toDecision(decisionRow, now) : null,
        report,
      };
    },

    history(repository: string, q: PageQuery, now: Date): Page<DecisionRecord> {
      return queryDecisions([eq(decisions.repository, repository)], q, now);
    },

    audit(requestId: string): AuditEntry[] {
      return orm
        .select()
        .from(auditLog)
        .where(eq(auditLog.requestId, requestId))
        .orderBy(auditLog.seq)
        .all()
        .map((r) => ({
          at: r.at,
          actor: r.actor,
          action: r.action,
          detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown),
        }));
    },

    linkJob(requestId: string, jobId: number): void {
      const res = orm.update(requests).set({ jobId }).where(eq(requests.id, requestId)).run();
      if (res.changes !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    requestsOfJob(jobId: number, now?: Date): RequestRecord[] {
      return orm
        .select()
        .from(requests)
        .where(eq(requests.jobId, jobId))
        .orderBy(requests.seq)
        .all()
        .map((r) => toRequest(r, now));
    },

    close(): void {
      db.close();
    },
  };
  return store;
}

function toRequest(r: RequestRow, now?: Date): RequestRecord {
  const expired =
    r.status === "approved" && r.expiresAt !== null && now !== undefined && r.expiresAt <= now.toISOString();
  return {
    id: r.id,
    reference: r.reference,
    repository: r.repository,
    tag: r.tag,
    digest: r.digest,
    requestedBy: r.requestedBy,
    source: r.source,
    channel: r.channel,
    reason: r.reason,
    status: expired ? "expired" : r.status,
    verdict: r.verdict,
    reportId: r.reportId,
    itMessage: r.itChannel && r.itTs ? { channel: r.itChannel, ts: r.itTs } : null,
    responseUrl: r.responseUrl,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? "" } : null,
  };
}

function toDecision(r: DecisionRow, now: Date): DecisionRecord {
  const expired = r.decision === "approved" && r.expiresAt !== null && r.expiresAt <= now.toISOString();
  return {
    id: decisionId(r.seq),
    requestId: r.requestId,
    repository: r.repository,
    reference: r.reference,
    digest: r.digest,
    decision: r.decision,
    status: expired ? "expired" : r.decision,
    decidedBy: r.decidedBy,
    requestedBy: r.requestedBy,
    reason: r.reason,
    decidedAt: r.decidedAt,
    expiresAt: r.expiresAt,
  };
}

function toPendingRow(r: RequestRow): PendingDecisionRow {
  return {
    id: null,
    requestId: r.id,
    repository: r.repository,
    reference: r.reference,
    digest: r.digest,
    decision: null,
    status: "pending",
    decidedBy: null,
    requestedBy: r.requestedBy,
    reason: r.reason,
    decidedAt: null,
    expiresAt: null,
  };
}

function decisionId(seq: number): string {
  return `dec_${seq}`;
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return STORE_DEFAULTS.pageSize;
  if (!Number.isInteger(limit) || limit < 1) return STORE_DEFAULTS.pageSize;
  return Math.min(limit, STORE_DEFAULTS.maxPageSize);
}

/** The condition "older than the cursor" on (timestamp, seq), or none without a cursor. */
function beforeCursor(at: SQLiteColumn, seq: SQLiteColumn, cursor: string | undefined): SQL | undefined {
  if (!cursor) return undefined;
  const [cursorAt, cursorSeq] = decodeCursor(cursor);
  // A row-value comparison: SQLite walks the (..., timestamp) index backwards from the cursor.
  return sql`(${at}, ${seq}) < (${cursorAt}, ${cursorSeq})`;
}

/** A page of `limit` rows from `limit + 1` fetched; the extra row says whether there is a next page. */
function cutPage<R>(rows: R[], limit: number, key: (r: R) => [string, number]): Page<R> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next: rows.length > limit && last ? encodeCursor(...key(last)) : null };
}

/** Cursors are opaque to callers: base64url of `[timestamp, seq]` of the last row of a page. */
function encodeCursor(at: string, seq: number): string {
  return Buffer.from(JSON.stringify([at, seq])).toString("base64url");
}

function decodeCursor(cursor: string): [string, number] {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && typeof v[0] === "string" && Number.isInteger(v[1])) return [v[0], v[1] as number];
  } catch {
    // fall through
  }
  throw new StoreError("BAD_CURSOR", "the paging cursor is not one this store handed out");
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 base32, lowercase, unpadded: URL-safe and unambiguous in Slack. 10 bytes -> 16 chars. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}
