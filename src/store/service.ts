/**
 * The store service (src/store/api.ts): repositories over the drizzle schema plus the decision
 * rules and their errors. Every state change writes its audit entry in the same transaction.
 */
import { createHash, randomBytes as nodeRandomBytes, randomFillSync } from "node:crypto";
import { and, type Column, desc, eq, gt, lte, type SQL, sql } from "drizzle-orm";
import type { Report } from "../checks/report.js";
import { canonicalRepository } from "../reference/host.js";
import type {
  AuditEntry,
  CliReportInput,
  CliReportRecord,
  CreateRequestInput,
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
  SyncStore,
} from "./api.js";
import { StoreError } from "./api.js";
import { asyncify, transaction } from "./async.js";
import { type Db, openDb } from "./db.js";
import {
  approvalExpired,
  decisionId,
  decisionListFilters,
  decisionMethods,
  POLICY_ACTOR,
  toDecision,
} from "./decisions.js";
import { type GroupCommit, type GroupCommitOptions, groupCommit } from "./group-commit.js";
import { type JobStatements, sqliteJobStatements } from "./jobs.js";
import { auditLog, decisions, reports, requests, tagObservations } from "./schema.js";
import { openSlackLedger, type SlackLedger } from "./slack.js";
import { referenceTagOf, tagObservationOf } from "./tags.js";
import { openWatchStore, type WatchStore } from "./watch.js";

/** Defaults, each with why. */
export const STORE_DEFAULTS = {
  /** A Slack message or a terminal screen shows about this many rows. */
  pageSize: 20,
  /** Bounds the work of one query (and of one `--limit`): larger exports page. */
  maxPageSize: 500,
  /** Who `decidedBy` is when the policy approves a `pass` without asking IT (see ./decisions.ts). */
  policyActor: POLICY_ACTOR,
};

type RequestRow = typeof requests.$inferSelect;

/** The synchronous statements of the store with the job links (see `OpenedStore`). */
interface SyncOpenedStore extends SyncStore {
  linkJob(requestId: string, jobId: number): void;
  requestsOfJob(jobId: number, now?: Date): RequestRecord[];
}

/**
 * The store as the bot runs on it, on either engine (SQLite here, PostgreSQL in ./pg-store.ts): the
 * service API, transactions, the job links, and the statement sets that share its transactions
 * (the durable queue's, the watch schedule's, the Slack app's ledger).
 */
export interface OpenedStore extends Store {
  readonly engine: "sqlite" | "postgres";
  /**
   * Run `fn` in one write transaction (a savepoint when already inside one), so store writes and
   * queue writes made by a caller commit together. On SQLite other work of this process waits until
   * it ended (./async.ts), so keep `fn` to the store's and the queue's calls.
   */
  transaction<T>(fn: () => Promise<T> | T): Promise<T>;
  /**
   * The committer of the ack path's writes: each resolves only once committed. SQLite commits the
   * writes of one turn together (./group-commit.ts); PostgreSQL runs each in a transaction of its
   * own (./pg-store.ts says why).
   */
  groupCommit(opts?: GroupCommitOptions): GroupCommit;
  /** Note that `requestId` waits on check job `jobId` (identical requests share one job). */
  linkJob(requestId: string, jobId: number): Promise<void>;
  /** The requests waiting on check job `jobId`, oldest first. */
  requestsOfJob(jobId: number, now?: Date): Promise<RequestRecord[]>;
  /** The durable queue's statements (src/worker/queue.ts `openQueue` builds the queue over them). */
  jobs(): JobStatements;
  /** The watch schedule (./watch.ts). */
  watch(): WatchStore;
  /** The Slack app's deliveries, DMs and in-flight counts (./slack.ts). */
  slackLedger(): SlackLedger;
  /**
   * Run one round of the scheduler `name` (watch, expiry, audit) unless another process sharing the
   * store runs one now: PostgreSQL takes an advisory lock (./pg-lock.ts) and skips the round when
   * another replica holds it; the embedded SQLite store has one bot process and always runs it.
   */
  schedulerRound<T>(name: string, round: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
}

/** The embedded store: `OpenedStore` plus its SQLite database, for backups, checkpoints and tests. */
export interface SqliteStore extends OpenedStore {
  readonly engine: "sqlite";
  readonly db: Db;
}

/** `store` as the embedded SQLite store; throws when it runs on another engine (a caller that needs the file). */
export function sqliteStoreOf(store: OpenedStore): SqliteStore {
  if (store.engine !== "sqlite")
    throw new StoreError("WRONG_ENGINE", `this needs the SQLite store, not ${store.engine}`);
  return store as SqliteStore;
}

/** Open (creating and migrating as needed) the store at `path`. See `openDb` for the errors. */
export function openStore(path: string, opts: OpenStoreOptions = {}): SqliteStore {
  const db = openDb(path, { readonly: opts.readonly, migrate: opts.migrate });
  return createStore(db, opts);
}

/** The store service over an open database. */
export function createStore(db: Db, opts: Pick<OpenStoreOptions, "randomBytes"> = {}): SqliteStore {
  const orm = db.orm;
  const random = opts.randomBytes ?? pooledRandomBytes();
  const ph = sql.placeholder;

  // Prepared once per store: the statements of the ack path (a slash command writes its request and
  // job before Slack gets the ack) and of the check job's follow-ups. Building and compiling the
  // SQL on every call cost ~15x executing it (0.15 ms against 0.01 ms for a request by id).
  // The listing queries, whose filters vary, are built per call.
  const stmt = {
    requestById: orm
      .select()
      .from(requests)
      .where(eq(requests.id, ph("id")))
      .prepare(),
    insertRequest: orm
      .insert(requests)
      .values({
        id: ph("id"),
        reference: ph("reference"),
        repository: ph("repository"),
        tag: ph("tag"),
        digest: ph("digest"),
        requestedBy: ph("requestedBy"),
        source: ph("source"),
        channel: ph("channel"),
        reason: ph("reason"),
        status: "checking",
        responseUrl: ph("responseUrl"),
        createdAt: ph("at"),
        updatedAt: ph("at"),
      })
      .returning()
      .prepare(),
    insertAudit: orm
      .insert(auditLog)
      .values({
        at: ph("at"),
        actor: ph("actor"),
        action: ph("action"),
        requestId: ph("requestId"),
        detail: ph("detail"),
      })
      .prepare(),
    linkJob: orm
      .update(requests)
      .set({ jobId: sql`${ph("jobId")}` })
      .where(eq(requests.id, ph("id")))
      .prepare(),
    requestsOfJob: orm
      .select()
      .from(requests)
      .where(eq(requests.jobId, ph("jobId")))
      .orderBy(requests.seq)
      .prepare(),
    insertReport: orm
      .insert(reports)
      .values({
        id: ph("id"),
        digest: ph("digest"),
        policyVersion: ph("policyVersion"),
        repository: ph("repository"),
        reference: ph("reference"),
        verdict: ph("verdict"),
        checkedAt: ph("checkedAt"),
        json: ph("json"),
        createdAt: ph("at"),
      })
      .onConflictDoNothing({ target: reports.id })
      .prepare(),
    reportJson: orm
      .select({ json: reports.json })
      .from(reports)
      .where(eq(reports.id, ph("id")))
      .prepare(),
    freshReport: orm
      .select({ json: reports.json })
      .from(reports)
      .where(
        and(
          eq(reports.digest, ph("digest")),
          eq(reports.policyVersion, ph("policyVersion")),
          gt(reports.checkedAt, ph("since")),
          lte(reports.checkedAt, ph("at")),
        ),
      )
      .orderBy(desc(reports.checkedAt))
      .limit(1)
      .prepare(),
    attachReport: orm
      .update(requests)
      .set({
        status: sql`${ph("status")}`,
        digest: sql`${ph("digest")}`,
        verdict: sql`${ph("verdict")}`,
        reportId: sql`${ph("reportId")}`,
        errorCode: sql`${ph("errorCode")}`,
        errorMessage: sql`${ph("errorMessage")}`,
        updatedAt: sql`${ph("at")}`,
      })
      .where(eq(requests.id, ph("id")))
      .returning()
      .prepare(),
    setItMessage: orm
      .update(requests)
      .set({ itChannel: sql`${ph("channel")}`, itTs: sql`${ph("ts")}` })
      .where(eq(requests.id, ph("id")))
      .prepare(),
    setReason: orm
      .update(requests)
      .set({ reason: sql`${ph("reason")}`, updatedAt: sql`${ph("at")}` })
      .where(eq(requests.id, ph("id")))
      .returning()
      .prepare(),
    observeTag: orm
      .insert(tagObservations)
      .values({
        repository: ph("repository"),
        tag: ph("tag"),
        digest: ph("digest"),
        firstSeenAt: ph("at"),
        lastSeenAt: ph("at"),
      })
      .onConflictDoUpdate({
        target: [tagObservations.repository, tagObservations.tag, tagObservations.digest],
        set: {
          lastSeenAt: sql`max(${tagObservations.lastSeenAt}, excluded.last_seen_at)`,
          times: sql`${tagObservations.times} + 1`,
        },
      })
      .prepare(),
    lastKnownDigest: orm
      .select({ digest: tagObservations.digest })
      .from(tagObservations)
      .where(and(eq(tagObservations.repository, ph("repository")), eq(tagObservations.tag, ph("tag"))))
      .orderBy(desc(tagObservations.lastSeenAt), desc(tagObservations.seq))
      .limit(1)
      .prepare(),
    auditOf: orm
      .select()
      .from(auditLog)
      .where(eq(auditLog.requestId, ph("requestId")))
      .orderBy(auditLog.seq)
      .prepare(),
  };

  /**
   * A write transaction, built once: IMMEDIATE takes the write lock before reading, so the checks
   * inside see the latest state (a second process waits for busy_timeout, then reads the first
   * one's write). Called inside another transaction, it becomes a savepoint of that one.
   */
  function writeTx<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const tx = db.sqlite.transaction(fn);
    return (...args: A) => tx.immediate(...args);
  }

  function requireRequest(id: string): RequestRow {
    const row = stmt.requestById.get({ id });
    if (!row) throw new StoreError("NOT_FOUND", `no request ${id}`);
    return row;
  }

  function audit(at: Date, actor: string, action: string, requestId: string | null, detail: unknown): void {
    stmt.insertAudit.run({
      at: at.toISOString(),
      actor,
      action,
      requestId,
      detail: detail === undefined ? null : JSON.stringify(detail),
    });
  }

  // The approval rules and the decision methods (./decisions.ts).
  const rules = decisionMethods({ db, writeTx, requireRequest, audit, toRequest });

  /** Store a report (content-addressed: the same report twice is one row); returns its id. */
  function insertReport(report: Report, digest: string | null, now: Date): string {
    const json = JSON.stringify(report);
    const id = `rep_${createHash("sha256").update(json).digest("hex").slice(0, 32)}`;
    stmt.insertReport.run({
      id,
      digest,
      policyVersion: report.policyVersion ?? "",
      repository: canonicalRepository(`${report.image.registry}/${report.image.repository}`),
      reference: report.reference,
      verdict: report.verdict,
      checkedAt: report.checkedAt,
      json,
      at: now.toISOString(),
    });
    return id;
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
    const row = stmt.reportJson.get({ id });
    return row ? (JSON.parse(row.json) as Report) : null;
  }

  const createRequestTx = writeTx((input: CreateRequestInput, now: Date): RequestRecord => {
    const at = now.toISOString();
    const id = `req_${base32(random(10))}`;
    const row = stmt.insertRequest.get({
      id,
      reference: input.reference,
      repository: canonicalRepository(input.repository),
      tag: input.tag,
      digest: input.digest ?? null,
      requestedBy: input.requestedBy,
      source: input.source,
      channel: input.channel ?? null,
      reason: input.reason ?? null,
      responseUrl: input.responseUrl ?? null,
      at,
    })!;
    audit(now, input.requestedBy, "request.created", id, {
      reference: input.reference,
      source: input.source,
      channel: input.channel ?? null,
      reason: input.reason ?? null,
    });
    return toRequest(row, now);
  });

  /** Store the report of a `checking` request and move it on (see `Store.attachReport`); `actor` ran the check. */
  function attach(req: RequestRow, report: Report, now: Date, actor: string): RequestRow {
    // Idempotent: a re-run after a crash between this commit and the job's completion must
    // not write a second report or move the request again.
    if (req.status !== "checking") return req;
    const digest = report.image.digest ?? req.digest;
    const reportId = insertReport(report, digest ?? null, now);
    const failed = !digest;
    const row = stmt.attachReport.get({
      id: req.id,
      status: failed ? "failed" : "pending",
      digest,
      verdict: report.verdict,
      reportId,
      errorCode: failed ? "NO_DIGEST" : null,
      errorMessage: failed ? "the check could not resolve the image to a digest" : null,
      at: now.toISOString(),
    })!;
    audit(now, actor, failed ? "request.failed" : "request.checked", req.id, {
      reportId,
      digest,
      verdict: report.verdict,
    });
    return row;
  }

  const attachReportTx = writeTx(
    (requestId: string, report: Report, now: Date): RequestRecord =>
      toRequest(attach(requireRequest(requestId), report, now, "worker"), now),
  );

  const recordCliReportTx = writeTx((report: Report, now: Date, input: CliReportInput): CliReportRecord => {
    const digest = report.image.digest ?? null;
    const reportId = insertReport(report, digest, now);
    const seen = tagObservationOf(report);
    if (seen) store.recordTagObservation(seen.repository, seen.tag, seen.digest, now);
    audit(now, input.requestedBy, "report.recorded", null, {
      reportId,
      reference: report.reference,
      digest,
      verdict: report.verdict,
    });
    const none: CliReportRecord = { reportId, request: null, decision: null };
    // Only a pass the policy approves becomes a request: anything else would wait for IT, who were
    // never asked, and a CLI user cannot be told of a decision.
    if (report.verdict !== "pass" || !input.approvals.autoApprovePass || !digest) return none;
    const repository = canonicalRepository(`${report.image.registry}/${report.image.repository}`);
    // A decision in force stands: a person's rejection is not overridden, and an approval is
    // not extended by checking again.
    if (rules.cliPassSettled(repository, digest, now)) return none;
    const request = createRequestTx(
      {
        reference: report.reference,
        repository,
        tag: referenceTagOf(report)?.tag ?? null,
        digest,
        requestedBy: input.requestedBy,
        source: "cli",
      },
      now,
    );
    const checked = attach(requireRequest(request.id), report, now, input.requestedBy);
    const decision = rules.approveByPolicy(checked, now, input.approvals.expireDays);
    return { reportId, request: toRequest(requireRequest(request.id), now), decision };
  });

  const failRequestTx = writeTx(
    (requestId: string, error: { code: string; message: string }, now: Date): RequestRecord => {
      const req = requireRequest(requestId);
      if (req.status !== "checking") return toRequest(req, now);
      const row = stmt.attachReport.get({
        id: requestId,
        status: "failed",
        digest: req.digest,
        verdict: req.verdict,
        reportId: req.reportId,
        errorCode: error.code,
        errorMessage: error.message,
        at: now.toISOString(),
      })!;
      audit(now, "worker", "request.failed", requestId, error);
      return toRequest(row, now);
    },
  );

  const setReasonTx = writeTx((requestId: string, reason: string, now: Date): RequestRecord => {
    const req = requireRequest(requestId);
    const row = stmt.setReason.get({ id: requestId, reason, at: now.toISOString() })!;
    audit(now, req.requestedBy, "request.reason", requestId, { reason });
    return toRequest(row, now);
  });

  const store: SyncOpenedStore = {
    createRequest: (input, now) => createRequestTx(input, now),

    getRequest(id: string, now?: Date): RequestRecord | null {
      const row = stmt.requestById.get({ id });
      return row ? toRequest(row, now) : null;
    },

    attachReport: (requestId, report, now) => attachReportTx(requestId, report, now),

    recordCliReport: (report, now, input) => recordCliReportTx(report, now, input),

    failRequest: (requestId, error, now) => failRequestTx(requestId, error, now),

    setItMessage(requestId: string, channel: string, ts: string): void {
      const res = stmt.setItMessage.run({ id: requestId, channel, ts });
      if (res.changes !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    setReason: (requestId, reason, now) => setReasonTx(requestId, reason, now),

    decide: rules.decide,

    autoApprove: rules.autoApprove,

    coverByDecision: rules.coverByDecision,

    settle: rules.settle,

    reopenCovered: rules.reopenCovered,

    getDecision: rules.getDecision,

    standingDecision: rules.standingDecision,

    currentDecision(repository: string, digest: string, now: Date): DecisionRecord | null {
      const row = rules.currentRow(canonicalRepository(repository), digest);
      return row ? toDecision(row, now) : null;
    },

    getReport(id: string): Report | null {
      return readReport(id);
    },

    freshReport(digest: string, policyVersion: string, now: Date, maxAgeMs: number): Report | null {
      if (maxAgeMs <= 0) return null;
      const since = new Date(now.getTime() - maxAgeMs).toISOString();
      const row = stmt.freshReport.get({ digest, policyVersion, since, at: now.toISOString() });
      return row ? (JSON.parse(row.json) as Report) : null;
    },

    recordTagObservation(repository: string, tag: string, digest: string, now: Date): void {
      stmt.observeTag.run({
        repository: canonicalRepository(repository),
        tag,
        digest,
        at: now.toISOString(),
      });
    },

    lastKnownDigest(repository: string, tag: string): string | null {
      return stmt.lastKnownDigest.get({ repository: canonicalRepository(repository), tag })?.digest ?? null;
    },

    listDecisions(q: DecisionQuery, now: Date): Page<DecisionListItem> {
      if (q.status === "pending") {
        const filters: SQL[] = [];
        if (q.repository) filters.push(eq(requests.repository, canonicalRepository(q.repository)));
        if (q.digest) filters.push(eq(requests.digest, q.digest));
        const page = queryPending(filters, q);
        return { items: page.items.map(toPendingRow), next: page.next };
      }
      return queryDecisions(decisionListFilters(decisions, q, now), q, now);
    },

    pendingRequests(q: PageQuery): Page<RequestRecord> {
      const page = queryPending([], q);
      return { items: page.items.map((r) => toRequest(r)), next: page.next };
    },

    statusOf(name: string, at: { tag?: string; digest?: string }, now: Date): StatusAnswer {
      const repository = canonicalRepository(name);
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
      const decisionRow = digest ? rules.currentRow(repository, digest) : undefined;
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
      return queryDecisions([eq(decisions.repository, canonicalRepository(repository))], q, now);
    },

    audit(requestId: string): AuditEntry[] {
      return stmt.auditOf.all({ requestId }).map((r) => ({
        at: r.at,
        actor: r.actor,
        action: r.action,
        detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown),
      }));
    },

    linkJob(requestId: string, jobId: number): void {
      const res = stmt.linkJob.run({ id: requestId, jobId });
      if (res.changes !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    requestsOfJob(jobId: number, now?: Date): RequestRecord[] {
      return stmt.requestsOfJob.all({ jobId }).map((r) => toRequest(r, now));
    },

    close(): void {
      db.close();
    },
  };
  let watch: WatchStore | undefined;
  let ledger: SlackLedger | undefined;
  return {
    ...asyncify(db, store),
    engine: "sqlite",
    db,
    transaction: (fn) => transaction(db, fn),
    groupCommit: (groupOpts) => groupCommit(db, groupOpts),
    jobs: () => sqliteJobStatements(db),
    // Prepared on first use: `check` and `decisions` open the store without them.
    watch: () => (watch ??= openWatchStore(db)),
    slackLedger: () => (ledger ??= openSlackLedger(db)),
    schedulerRound: async (_name, round) => ({ ran: true, value: await round() }),
  };
}

/** A request row (either engine's) as the API shows it; with `now`, an approval past its expiry reads `expired`. */
export function toRequest(r: RequestRow, now?: Date): RequestRecord {
  const expired = approvalExpired({ status: r.status, expiresAt: r.expiresAt }, now);
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
    decisionId: r.decisionSeq === null ? null : decisionId(r.decisionSeq),
  };
}

/** A pending request as a row of `listDecisions`. */
export function toPendingRow(r: RequestRow): PendingDecisionRow {
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

/** The page size of a query's `limit` (default, capped). */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return STORE_DEFAULTS.pageSize;
  if (!Number.isInteger(limit) || limit < 1) return STORE_DEFAULTS.pageSize;
  return Math.min(limit, STORE_DEFAULTS.maxPageSize);
}

/** The condition "older than the cursor" on (timestamp, seq), or none without a cursor. */
export function beforeCursor(at: Column, seq: Column, cursor: string | undefined): SQL | undefined {
  if (!cursor) return undefined;
  const [cursorAt, cursorSeq] = decodeCursor(cursor);
  // A row-value comparison: SQLite walks the (..., timestamp) index backwards from the cursor.
  return sql`(${at}, ${seq}) < (${cursorAt}, ${cursorSeq})`;
}

/** A page of `limit` rows from `limit + 1` fetched; the extra row says whether there is a next page. */
export function cutPage<R>(rows: R[], limit: number, key: (r: R) => [string, number]): Page<R> {
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

/**
 * Random bytes from a pool refilled 4 KiB at a time: one getrandom call per ~400 request ids
 * instead of one each (the call, not the bytes, is what costs: ~30 µs on the ack path).
 */
export function pooledRandomBytes(): (n: number) => Uint8Array {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return (n: number) => {
    if (n > pool.length) return nodeRandomBytes(n);
    if (offset + n > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    // A copy: the pool's bytes are handed out once.
    const out = Uint8Array.prototype.slice.call(pool, offset, offset + n);
    offset += n;
    return out;
  };
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
