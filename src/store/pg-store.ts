/**
 * The store (src/store/api.ts `Store`) on PostgreSQL: the same tables (./schema.pg.ts), the same
 * rules (./decisions.ts's pure functions and guards: nothing here decides who may settle what),
 * the same record shapes and paging (./service.ts). Only the statements differ.
 *
 * Concurrency across replicas:
 * - a request is decided once: `UPDATE requests ... WHERE status = 'pending' RETURNING` moves it,
 *   and only the statement that moved it writes the decision (UNIQUE request_id is the second lock);
 * - the rules that read before they write (a standing rejection forbids the policy's approval, a
 *   standing decision covers a new request) run under a per-digest advisory transaction lock
 *   (`pg_advisory_xact_lock`), taken before the reads: two replicas settling requests for the same
 *   digest take turns, and the second reads what the first committed (READ COMMITTED takes a new
 *   snapshot per statement). Chosen over SERIALIZABLE because it needs no retry loop around
 *   callers' transactions and serializes only one digest's decisions; a unique constraint cannot
 *   say "no newer rejection of this digest".
 * Every state change writes its audit entry in the same transaction.
 */
import { createHash } from "node:crypto";
import { and, desc, eq, getTableColumns, gt, isNotNull, lte, ne, or, type SQL, sql } from "drizzle-orm";
import { PgDialect, type PgTable } from "drizzle-orm/pg-core";
import type { Report } from "../checks/report.js";
import { canonicalRepository } from "../reference/host.js";
import type {
  AuditEntry,
  CliReportInput,
  CliReportRecord,
  CreateRequestInput,
  DecideInput,
  DecisionListItem,
  DecisionQuery,
  DecisionRecord,
  OpenStoreOptions,
  Page,
  PageQuery,
  RequestRecord,
  StatusAnswer,
} from "./api.js";
import { StoreError } from "./api.js";
import {
  assertDecidable,
  assertMayDecide,
  assertPolicyMayApprove,
  assertReopenable,
  cliPassInForce,
  coverage,
  decisionId,
  decisionListFilters,
  decisionSeq,
  expiryOf,
  newer,
  POLICY_ACTOR,
  type SettlePolicy,
  settlement,
  toDecision,
} from "./decisions.js";
import { pgJobStatements } from "./pg-jobs.js";
import { withAdvisoryLock } from "./pg-lock.js";
import { named, pgScope, statementName } from "./pg-scope.js";
import { openPgSlackLedger } from "./pg-slack.js";
import { openPgWatchStore } from "./pg-watch.js";
import { openPostgres, type PostgresDb, pendingPostgresMigrations } from "./postgres.js";
import { auditLog, decisions, reports, requests, tagObservations } from "./schema.pg.js";
import {
  base32,
  beforeCursor,
  cutPage,
  type OpenedStore,
  pageSize,
  pooledRandomBytes,
  toPendingRow,
  toRequest,
} from "./service.js";
import type { SlackLedger } from "./slack.js";
import { referenceTagOf, tagObservationOf } from "./tags.js";
import type { WatchStore } from "./watch.js";

type RequestRow = typeof requests.$inferSelect;
type DecisionRow = typeof decisions.$inferSelect;

/** The PostgreSQL store: `Store` plus `transaction`, as the SQLite store has it. */
export interface PgStore extends OpenedStore {
  readonly engine: "postgres";
}

/**
 * Open the PostgreSQL store at `url` for a command that only reads (it never migrates): StoreError
 * UNREACHABLE when the server cannot be reached or refuses the login, SCHEMA_OUTDATED when the
 * database lacks migrations. Neither message shows the password.
 */
export async function openPgStoreForReading(url: string, where: string): Promise<PgStore> {
  if ((await pendingPostgresMigrations(url)) > 0)
    throw new StoreError(
      "SCHEMA_OUTDATED",
      `the PostgreSQL store at ${where} needs migrations this command may not apply: run image-check migrate`,
    );
  return createPgStore(openPostgres(url));
}

const dialect = new PgDialect();

/** A row of `table` as row_to_json gives it (keys are column names), keyed as drizzle keys it. */
function fromJson<T>(table: PgTable, json: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) out[key] = json[column.name] ?? null;
  return out as T;
}

/** The store over an open, migrated PostgreSQL database. `close` closes the pool. */
export function createPgStore(db: PostgresDb, opts: Pick<OpenStoreOptions, "randomBytes"> = {}): PgStore {
  const random = opts.randomBytes ?? pooledRandomBytes();
  const scope = pgScope(db);
  const { q, tx } = scope;
  let watch: WatchStore | undefined;
  let ledger: SlackLedger | undefined;

  /** Serialize the read-then-write rules of one digest across replicas, until the transaction ends. */
  async function lockDigest(digest: string | null): Promise<void> {
    if (digest) await q().execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${digest}, 0))`);
  }

  async function findRequest(id: string): Promise<RequestRow | undefined> {
    const [row] = await named(q().select().from(requests).where(eq(requests.id, id)));
    return row;
  }

  async function requireRequest(id: string): Promise<RequestRow> {
    const row = await findRequest(id);
    if (!row) throw new StoreError("NOT_FOUND", `no request ${id}`);
    return row;
  }

  /** The request, read again under its digest's lock (so the rules see what other replicas committed). */
  async function lockedRequest(id: string): Promise<RequestRow> {
    const first = await requireRequest(id);
    if (!first.digest) return first;
    await lockDigest(first.digest);
    return await requireRequest(id);
  }

  async function audit(
    at: Date,
    actor: string,
    action: string,
    requestId: string | null,
    detail: unknown,
  ): Promise<void> {
    await q()
      .insert(auditLog)
      .values({
        at: at.toISOString(),
        actor,
        action,
        requestId,
        detail: detail === undefined ? null : JSON.stringify(detail),
      });
  }

  async function decisionBySeq(seq: number): Promise<DecisionRow | undefined> {
    const [row] = await named(q().select().from(decisions).where(eq(decisions.seq, seq)));
    return row;
  }

  /** The newest decision a person made on `digest` (or a revoked one), as a query. */
  const standingQuery = (digest: string | SQL) =>
    q()
      .select()
      .from(decisions)
      .where(
        and(
          eq(decisions.digest, digest),
          or(ne(decisions.decidedBy, POLICY_ACTOR), isNotNull(decisions.revokedAt)),
        ),
      )
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(1);

  /** The newest decision on `digest` under this name, as a query. */
  const newestHereQuery = (repository: string, digest: string | SQL) =>
    q()
      .select()
      .from(decisions)
      .where(and(eq(decisions.repository, repository), eq(decisions.digest, digest)))
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(1);

  async function standingRow(digest: string): Promise<DecisionRow | undefined> {
    const [row] = await named(standingQuery(digest));
    return row;
  }

  async function newestHere(repository: string, digest: string): Promise<DecisionRow | undefined> {
    const [row] = await named(newestHereQuery(repository, digest));
    return row;
  }

  /**
   * Run a statement drizzle cannot build as a select, named like `named()`'s: on the pool outside a
   * transaction; inside one, on its connection, unnamed (drizzle's execute takes no name).
   */
  async function rawNamed<T>(statement: SQL): Promise<T[]> {
    if (scope.inTransaction()) return (await q().execute(statement)).rows as T[];
    const { sql: text, params } = dialect.sqlToQuery(statement);
    return (await db.pool.query({ name: statementName(text), text, values: params })).rows as T[];
  }

  async function currentRow(repository: string, digest: string): Promise<DecisionRow | undefined> {
    // Both candidates in one statement (one round trip); which of them governs is newer()'s rule.
    const [a, b] = await named(standingQuery(digest).unionAll(newestHereQuery(repository, digest)));
    return newer(a, b);
  }

  async function reopened(requestId: string): Promise<boolean> {
    const [row] = await q()
      .select({ seq: auditLog.seq })
      .from(auditLog)
      .where(and(eq(auditLog.requestId, requestId), eq(auditLog.action, "request.reopened")))
      .limit(1);
    return row !== undefined;
  }

  /** Move a pending request to its outcome; undefined when another decider moved it first. */
  async function settlePending(
    id: string,
    set: {
      status: "approved" | "rejected";
      expiresAt: string | null;
      decisionSeq: number | null;
      at: string;
    },
  ): Promise<RequestRow | undefined> {
    const [row] = await q()
      .update(requests)
      .set({ status: set.status, expiresAt: set.expiresAt, decisionSeq: set.decisionSeq, updatedAt: set.at })
      .where(and(eq(requests.id, id), eq(requests.status, "pending")))
      .returning();
    return row;
  }

  /** Write the request's own decision (the caller checked who may make it). */
  async function recordDecision(
    req: RequestRow,
    decision: "approved" | "rejected",
    decidedBy: string,
    reason: string | null,
    now: Date,
    expireDays: number,
  ): Promise<DecisionRecord> {
    assertDecidable(req);
    const decidedAt = now.toISOString();
    const expiresAt = expiryOf(decision, now, expireDays);
    const moved = await settlePending(req.id, {
      status: decision,
      expiresAt,
      decisionSeq: null,
      at: decidedAt,
    });
    if (!moved) throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`);
    let row: DecisionRow;
    try {
      [row] = (await q()
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
        .returning()) as [DecisionRow];
    } catch (err) {
      // 23505: unique_violation (https://www.postgresql.org/docs/15/errcodes-appendix.html)
      if ((err as { code?: string }).code === "23505")
        throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`, { cause: err });
      throw err;
    }
    await q().update(requests).set({ decisionSeq: row.seq }).where(eq(requests.id, req.id));
    await audit(now, decidedBy, `decision.${decision}`, req.id, {
      decisionId: decisionId(row.seq),
      digest: req.digest,
      reason: row.reason,
      expiresAt,
    });
    return toDecision(row, now);
  }

  async function approveByPolicy(req: RequestRow, now: Date, expireDays: number): Promise<DecisionRecord> {
    assertPolicyMayApprove(req, req.digest ? await standingRow(req.digest) : undefined);
    return await recordDecision(req, "approved", POLICY_ACTOR, null, now, expireDays);
  }

  async function cover(req: RequestRow, dec: DecisionRow, now: Date): Promise<RequestRecord> {
    const standing = req.digest ? await standingRow(req.digest) : undefined;
    if (coverage(req, dec, { standing, reopened: await reopened(req.id), now }) === "already")
      return toRequest(req, now);
    const row = await settlePending(req.id, {
      status: dec.decision,
      expiresAt: dec.expiresAt,
      decisionSeq: dec.seq,
      at: now.toISOString(),
    });
    if (!row) throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`);
    await audit(now, "worker", "request.covered", req.id, {
      decisionId: decisionId(dec.seq),
      decision: dec.decision,
      decidedBy: dec.decidedBy,
      expiresAt: dec.expiresAt,
    });
    return toRequest(row, now);
  }

  /** Store a report (content-addressed: the same report twice is one row); returns its id. */
  async function insertReport(report: Report, digest: string | null, now: Date): Promise<string> {
    const json = JSON.stringify(report);
    const id = `rep_${createHash("sha256").update(json).digest("hex").slice(0, 32)}`;
    await q()
      .insert(reports)
      .values({
        id,
        digest,
        policyVersion: report.policyVersion ?? "",
        repository: canonicalRepository(`${report.image.registry}/${report.image.repository}`),
        reference: report.reference,
        verdict: report.verdict,
        checkedAt: report.checkedAt,
        json,
        createdAt: now.toISOString(),
      })
      .onConflictDoNothing({ target: reports.id });
    return id;
  }

  async function readReport(id: string | null): Promise<Report | null> {
    if (!id) return null;
    const [row] = await named(q().select({ json: reports.json }).from(reports).where(eq(reports.id, id)));
    return row ? (JSON.parse(row.json) as Report) : null;
  }

  async function createRequest(input: CreateRequestInput, now: Date): Promise<RequestRecord> {
    const at = now.toISOString();
    const id = `req_${base32(random(10))}`;
    return await tx(async () => {
      const [row] = await q()
        .insert(requests)
        .values({
          id,
          reference: input.reference,
          repository: canonicalRepository(input.repository),
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
        .returning();
      await audit(now, input.requestedBy, "request.created", id, {
        reference: input.reference,
        source: input.source,
        channel: input.channel ?? null,
        reason: input.reason ?? null,
      });
      return toRequest(row!, now);
    });
  }

  async function updateOutcome(
    id: string,
    set: Pick<RequestRow, "status" | "digest" | "verdict" | "reportId" | "errorCode" | "errorMessage">,
    now: Date,
  ): Promise<RequestRow> {
    const [row] = await q()
      .update(requests)
      .set({ ...set, updatedAt: now.toISOString() })
      .where(eq(requests.id, id))
      .returning();
    return row!;
  }

  /** Store the report of a `checking` request and move it on (see `Store.attachReport`). */
  async function attach(req: RequestRow, report: Report, now: Date, actor: string): Promise<RequestRow> {
    if (req.status !== "checking") return req;
    const digest = report.image.digest ?? req.digest;
    const reportId = await insertReport(report, digest ?? null, now);
    const failed = !digest;
    const row = await updateOutcome(
      req.id,
      {
        status: failed ? "failed" : "pending",
        digest,
        verdict: report.verdict,
        reportId,
        errorCode: failed ? "NO_DIGEST" : null,
        errorMessage: failed ? "the check could not resolve the image to a digest" : null,
      },
      now,
    );
    await audit(now, actor, failed ? "request.failed" : "request.checked", req.id, {
      reportId,
      digest,
      verdict: report.verdict,
    });
    return row;
  }

  async function recordTagObservation(repository: string, tag: string, digest: string, now: Date) {
    const at = now.toISOString();
    await q()
      .insert(tagObservations)
      .values({ repository: canonicalRepository(repository), tag, digest, firstSeenAt: at, lastSeenAt: at })
      .onConflictDoUpdate({
        target: [tagObservations.repository, tagObservations.tag, tagObservations.digest],
        set: {
          lastSeenAt: sql`greatest(${tagObservations.lastSeenAt}, excluded.last_seen_at)`,
          times: sql`${tagObservations.times} + 1`,
        },
      });
  }

  async function lastKnownDigest(repository: string, tag: string): Promise<string | null> {
    const [row] = await named(
      q()
        .select({ digest: tagObservations.digest })
        .from(tagObservations)
        .where(
          and(eq(tagObservations.repository, canonicalRepository(repository)), eq(tagObservations.tag, tag)),
        )
        .orderBy(desc(tagObservations.lastSeenAt), desc(tagObservations.seq))
        .limit(1),
    );
    return row?.digest ?? null;
  }

  async function queryDecisions(filters: SQL[], page: PageQuery, now: Date): Promise<Page<DecisionRecord>> {
    const limit = pageSize(page.limit);
    const rows = await named(
      q()
        .select()
        .from(decisions)
        .where(and(...filters, beforeCursor(decisions.decidedAt, decisions.seq, page.before)))
        .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
        .limit(limit + 1),
    );
    const cut = cutPage(rows, limit, (r) => [r.decidedAt, r.seq]);
    return { items: cut.items.map((r) => toDecision(r, now)), next: cut.next };
  }

  async function queryPending(filters: SQL[], page: PageQuery): Promise<Page<RequestRow>> {
    const limit = pageSize(page.limit);
    const rows = await named(
      q()
        .select()
        .from(requests)
        .where(
          and(
            eq(requests.status, "pending"),
            ...filters,
            beforeCursor(requests.createdAt, requests.seq, page.before),
          ),
        )
        .orderBy(desc(requests.createdAt), desc(requests.seq))
        .limit(limit + 1),
    );
    return cutPage(rows, limit, (r) => [r.createdAt, r.seq]);
  }

  return {
    createRequest,

    async getRequest(id: string, now?: Date): Promise<RequestRecord | null> {
      const row = await findRequest(id);
      return row ? toRequest(row, now) : null;
    },

    attachReport: (requestId: string, report: Report, now: Date) =>
      tx(async () => toRequest(await attach(await requireRequest(requestId), report, now, "worker"), now)),

    recordCliReport: (report: Report, now: Date, input: CliReportInput): Promise<CliReportRecord> =>
      tx(async () => {
        const digest = report.image.digest ?? null;
        const reportId = await insertReport(report, digest, now);
        const seen = tagObservationOf(report);
        if (seen) await recordTagObservation(seen.repository, seen.tag, seen.digest, now);
        await audit(now, input.requestedBy, "report.recorded", null, {
          reportId,
          reference: report.reference,
          digest,
          verdict: report.verdict,
        });
        const none: CliReportRecord = { reportId, request: null, decision: null };
        if (report.verdict !== "pass" || !input.approvals.autoApprovePass || !digest) return none;
        const repository = canonicalRepository(`${report.image.registry}/${report.image.repository}`);
        await lockDigest(digest);
        if (cliPassInForce(await standingRow(digest), await newestHere(repository, digest), now)) return none;
        const request = await createRequest(
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
        const checked = await attach(await requireRequest(request.id), report, now, input.requestedBy);
        const decision = await approveByPolicy(checked, now, input.approvals.expireDays);
        return { reportId, request: toRequest(await requireRequest(request.id), now), decision };
      }),

    failRequest: (requestId: string, error: { code: string; message: string }, now: Date) =>
      tx(async () => {
        const req = await requireRequest(requestId);
        if (req.status !== "checking") return toRequest(req, now);
        const row = await updateOutcome(
          requestId,
          {
            status: "failed",
            digest: req.digest,
            verdict: req.verdict,
            reportId: req.reportId,
            errorCode: error.code,
            errorMessage: error.message,
          },
          now,
        );
        await audit(now, "worker", "request.failed", requestId, error);
        return toRequest(row, now);
      }),

    async setItMessage(requestId: string, channel: string, ts: string): Promise<void> {
      const rows = await q()
        .update(requests)
        .set({ itChannel: channel, itTs: ts })
        .where(eq(requests.id, requestId))
        .returning({ id: requests.id });
      if (rows.length !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    setReason: (requestId: string, reason: string, now: Date) =>
      tx(async () => {
        const req = await requireRequest(requestId);
        const [row] = await q()
          .update(requests)
          .set({ reason, updatedAt: now.toISOString() })
          .where(eq(requests.id, requestId))
          .returning();
        await audit(now, req.requestedBy, "request.reason", requestId, { reason });
        return toRequest(row!, now);
      }),

    decide: (input: DecideInput) =>
      tx(async () => {
        const req = await lockedRequest(input.requestId);
        assertMayDecide(req, input);
        return await recordDecision(
          req,
          input.decision,
          input.decidedBy,
          input.reason ?? null,
          input.now,
          input.expireDays,
        );
      }),

    autoApprove: (requestId: string, now: Date, expireDays: number) =>
      tx(async () => approveByPolicy(await lockedRequest(requestId), now, expireDays)),

    coverByDecision: (requestId: string, id: string, now: Date) =>
      tx(async () => {
        const req = await lockedRequest(requestId);
        const seq = decisionSeq(id);
        const dec = seq === null ? undefined : await decisionBySeq(seq);
        if (!dec) throw new StoreError("NOT_FOUND", `no decision ${id}`);
        return await cover(req, dec, now);
      }),

    settle: (requestId: string, now: Date, policy?: SettlePolicy) =>
      tx(async () => {
        const req = await lockedRequest(requestId);
        if (req.status !== "pending" || !req.digest) return toRequest(req, now);
        const standing = await standingRow(req.digest);
        const how = settlement(req, standing, {
          reopened: await reopened(req.id),
          now,
          policy: policy ?? null,
        });
        if (how === "cover") return await cover(req, standing!, now);
        if (how === "policy") {
          await approveByPolicy(req, now, policy!.expireDays);
          return toRequest(await requireRequest(requestId), now);
        }
        return toRequest(req, now);
      }),

    reopenCovered: (requestId: string, actor: string, reason: string, now: Date) =>
      tx(async () => {
        const req = await lockedRequest(requestId);
        if (req.status === "pending") return toRequest(req, now);
        const dec = req.decisionSeq === null ? undefined : await decisionBySeq(req.decisionSeq);
        assertReopenable(req, dec);
        const [row] = await q()
          .update(requests)
          .set({
            status: "pending",
            reason,
            expiresAt: null,
            decisionSeq: null,
            updatedAt: now.toISOString(),
          })
          .where(and(eq(requests.id, requestId), eq(requests.status, "rejected")))
          .returning();
        await audit(now, actor, "request.reopened", requestId, {
          previousDecisionId: decisionId(req.decisionSeq!),
          reason,
        });
        return toRequest(row!, now);
      }),

    async getDecision(id: string, now: Date): Promise<DecisionRecord | null> {
      const seq = decisionSeq(id);
      const row = seq === null ? undefined : await decisionBySeq(seq);
      return row ? toDecision(row, now) : null;
    },

    async standingDecision(digest: string, now: Date): Promise<DecisionRecord | null> {
      const row = await standingRow(digest);
      return row ? toDecision(row, now) : null;
    },

    async currentDecision(repository: string, digest: string, now: Date): Promise<DecisionRecord | null> {
      const row = await currentRow(canonicalRepository(repository), digest);
      return row ? toDecision(row, now) : null;
    },

    getReport: readReport,

    async freshReport(digest: string, policyVersion: string, now: Date, maxAgeMs: number) {
      if (maxAgeMs <= 0) return null;
      const since = new Date(now.getTime() - maxAgeMs).toISOString();
      const [row] = await q()
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
        .limit(1);
      return row ? (JSON.parse(row.json) as Report) : null;
    },

    recordTagObservation,

    lastKnownDigest,

    async listDecisions(query: DecisionQuery, now: Date): Promise<Page<DecisionListItem>> {
      if (query.status === "pending") {
        const filters: SQL[] = [];
        if (query.repository) filters.push(eq(requests.repository, canonicalRepository(query.repository)));
        if (query.digest) filters.push(eq(requests.digest, query.digest));
        const page = await queryPending(filters, query);
        return { items: page.items.map(toPendingRow), next: page.next };
      }
      return await queryDecisions(decisionListFilters(decisions, query, now), query, now);
    },

    async pendingRequests(query: PageQuery): Promise<Page<RequestRecord>> {
      const page = await queryPending([], query);
      return { items: page.items.map((r) => toRequest(r)), next: page.next };
    },

    async statusOf(name: string, at: { tag?: string; digest?: string }, now: Date): Promise<StatusAnswer> {
      const repository = canonicalRepository(name);
      if (!at.digest && !at.tag) return { request: null, decision: null, report: null };
      const by = at.digest ? eq(requests.digest, at.digest) : eq(requests.tag, at.tag!);
      // One statement, one round trip: the newest request; the digest asked for, or for a tag the one
      // it resolved to most recently here (if the tag moved since the last decision, the new digest
      // has none, which is what the asker must learn) or else the request's; the two candidates for
      // the decision in force (newer() picks, as everywhere); the request's report, else the
      // digest's latest.
      const digest = sql`(SELECT digest FROM target)`;
      const observed = at.digest
        ? sql`${at.digest}::text`
        : sql`coalesce((${q()
            .select({ digest: tagObservations.digest })
            .from(tagObservations)
            .where(and(eq(tagObservations.repository, repository), eq(tagObservations.tag, at.tag!)))
            .orderBy(desc(tagObservations.lastSeenAt), desc(tagObservations.seq))
            .limit(1)}), (SELECT digest FROM newest))`;
      const statement = sql`WITH newest AS (${q()
        .select()
        .from(requests)
        .where(and(eq(requests.repository, repository), by))
        .orderBy(desc(requests.createdAt), desc(requests.seq))
        .limit(1)}),
        target AS (SELECT ${observed} AS digest),
        decided AS (${standingQuery(digest).unionAll(newestHereQuery(repository, digest))})
        SELECT (SELECT row_to_json(newest) FROM newest) AS request,
          (SELECT json_agg(decided) FROM decided) AS decided,
          coalesce(
            (SELECT json FROM reports WHERE id = (SELECT report_id FROM newest)),
            (SELECT json FROM reports WHERE digest = ${digest} ORDER BY checked_at DESC LIMIT 1)
          ) AS report`;
      type Row = {
        request: Record<string, unknown> | null;
        decided: Record<string, unknown>[] | null;
        report: string | null;
      };
      const [row] = await rawNamed<Row>(statement);
      const reqRow = row?.request ? fromJson<RequestRow>(requests, row.request) : undefined;
      const [a, b] = (row?.decided ?? []).map((d) => fromJson<DecisionRow>(decisions, d));
      const decisionRow = newer(a, b);
      return {
        request: reqRow ? toRequest(reqRow, now) : null,
        decision: decisionRow ? toDecision(decisionRow, now) : null,
        report: row?.report ? (JSON.parse(row.report) as Report) : null,
      };
    },

    history: (repository: string, page: PageQuery, now: Date) =>
      queryDecisions([eq(decisions.repository, canonicalRepository(repository))], page, now),

    async audit(requestId: string): Promise<AuditEntry[]> {
      const rows = await q()
        .select()
        .from(auditLog)
        .where(eq(auditLog.requestId, requestId))
        .orderBy(auditLog.seq);
      return rows.map((r) => ({
        at: r.at,
        actor: r.actor,
        action: r.action,
        detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown),
      }));
    },

    engine: "postgres",

    transaction: (fn) => tx(async () => await fn()),

    // No grouping on PostgreSQL: each write is a transaction of its own, run at once. A group holds
    // every item's locks until it commits, and the ack path's items lock per user (the in-flight
    // limit), per digest and per delivery body in whatever order they arrive: two groups holding one
    // user each and wanting the other's deadlock (the Slack bench did, 17 users, 200 commands at
    // once). One write takes its locks in one order (body, user, digest), as every other
    // transaction does, so none can wait on another in a circle; and the server runs the pool's
    // transactions side by side, where SQLite's one writer gained from grouping.
    groupCommit: () => (fn) => tx(async () => await fn()),

    async linkJob(requestId: string, jobId: number): Promise<void> {
      const rows = await q()
        .update(requests)
        .set({ jobId })
        .where(eq(requests.id, requestId))
        .returning({ id: requests.id });
      if (rows.length !== 1) throw new StoreError("NOT_FOUND", `no request ${requestId}`);
    },

    async requestsOfJob(jobId: number, now?: Date): Promise<RequestRecord[]> {
      const rows = await q().select().from(requests).where(eq(requests.jobId, jobId)).orderBy(requests.seq);
      return rows.map((r) => toRequest(r, now));
    },

    jobs: () => pgJobStatements(scope),
    watch: () => (watch ??= openPgWatchStore(scope)),
    slackLedger: () => (ledger ??= openPgSlackLedger(scope)),
    schedulerRound: (name, round) => withAdvisoryLock(db, `image-check:${name}`, round),

    close: () => db.close(),
  };
}
