/**
 * The approval rules, in one place: pure functions over decision and request records, and the
 * store's decision methods that apply them (each in one write transaction with its audit entry).
 * The worker, the Slack jobs and the renderers ask here; none of them re-states a rule.
 *
 * | rule | where |
 * | --- | --- |
 * | an approval expires `expireDays` after it was made; a rejection never expires | `expiryOf`, `decisionStatus` |
 * | only a person's decision speaks for other requests; the policy's approval of a `pass` speaks for the policy that made it (a CLI run's `--policy` need not be the one in force) | `isPersonDecision` |
 * | a person's decision stands for the DIGEST, whatever name it is asked under (another spelling of the host, another repository holding the same manifest): the newest person's decision on the digest | `standingDecision` |
 * | an approval that a re-check (`watch`) revoked is in force no more, stands for its digest until a person decides again, and is read as decided by `watch` | `decisionStatus`, `inForce`, `toDecision` |
 * | a rejected digest, or one whose approval `watch` revoked, is never approved by the policy | `policyMayApprove` |
 * | a new request is settled on the standing decision when it is in force, unless its requester made that decision (two-person rule: it goes to another approver) or asked IT to reconsider a rejection | `whyNotCovered` |
 * | a request settled by another request's rejection may be reopened for IT; a request's own decision is final | `coveredByRejection` |
 * | nobody decides their own request; a request is decided once | `isOwnRequest`, `decide` |
 */
import { and, type Column, desc, eq, gt, isNotNull, isNull, lte, ne, or, type SQL, sql } from "drizzle-orm";
import { canonicalRepository } from "../reference/host.js";
import {
  type DecideInput,
  type DecisionRecord,
  type DecisionStatus,
  type RequestRecord,
  StoreError,
} from "./api.js";
import type { Db } from "./db.js";
import { auditLog, decisions, requests } from "./schema.js";

/** Who `decidedBy` is when the policy approves a `pass` without asking IT. */
export const POLICY_ACTOR = "policy";

const DAY_MS = 86_400_000;

type RequestRow = typeof requests.$inferSelect;
type DecisionRow = typeof decisions.$inferSelect;

/** The fields of a decision the rules read (rows and records both have them). */
interface DecisionFacts {
  seq?: number;
  id?: string;
  requestId: string;
  digest: string;
  decision: "approved" | "rejected";
  decidedBy: string;
  expiresAt: string | null;
  /** When `watch` withdrew the approval (a re-check found it worse); null while it stands. */
  revokedAt?: string | null;
}

// ---------------------------------------------------------------- pure rules

/** Whether a person (an approver) made the decision, not the policy's automatic approval of a pass. */
export function isPersonDecision(d: Pick<DecisionFacts, "decidedBy">): boolean {
  return d.decidedBy !== POLICY_ACTOR;
}

/** When an approval made at `now` stops counting; null for a rejection (it stands until decided again). */
export function expiryOf(decision: "approved" | "rejected", now: Date, expireDays: number): string | null {
  return decision === "approved" && expireDays > 0
    ? new Date(now.getTime() + expireDays * DAY_MS).toISOString()
    : null;
}

/** Whether an approval is past its expiry at `now`. */
export function approvalExpired(
  d: { decision?: string; status?: string; expiresAt: string | null },
  now: Date | undefined,
): boolean {
  const approved = (d.decision ?? d.status) === "approved";
  return approved && d.expiresAt !== null && now !== undefined && d.expiresAt <= now.toISOString();
}

/**
 * The status of a decision at `now`: an approval that `watch` withdrew reads `revoked`, one past
 * `expiresAt` reads `expired`.
 */
export function decisionStatus(
  d: Pick<DecisionFacts, "decision" | "expiresAt" | "revokedAt">,
  now: Date,
): DecisionStatus {
  if (d.decision === "approved" && d.revokedAt) return "revoked";
  return approvalExpired(d, now) ? "expired" : d.decision;
}

/** Whether a decision is in force at `now`: a rejection, or an approval neither expired nor revoked. */
export function inForce(d: Pick<DecisionFacts, "decision" | "expiresAt" | "revokedAt">, now: Date): boolean {
  const status = decisionStatus(d, now);
  return status === "approved" || status === "rejected";
}

/**
 * Whether the policy may approve a `pass` on a digest whose standing decision is `standing`: never
 * over a rejection, and never over an approval that `watch` revoked (a person looks again).
 */
export function policyMayApprove(
  standing: Pick<DecisionFacts, "decision" | "revokedAt"> | null | undefined,
): boolean {
  return standing?.decision !== "rejected" && !standing?.revokedAt;
}

/**
 * Why `decision` does not settle `request` (null: it does). `standing` is the digest's standing
 * decision (see `standingDecision`); `reopened` says the requester asked IT to reconsider.
 */
export function whyNotCovered(
  request: { id: string; digest: string | null; requestedBy: string },
  decision: DecisionFacts,
  ctx: { standing: DecisionFacts | null | undefined; reopened: boolean; now: Date },
): string | null {
  if (decision.digest !== request.digest) return "it is about another digest";
  if (!isPersonDecision(decision)) return "it was made by a policy, not a person: it covers no other request";
  if (!ctx.standing || ctx.standing.requestId !== decision.requestId || !inForce(decision, ctx.now))
    return `it is no longer in force for ${decision.digest}`;
  if (isOwnRequest(request, decision.decidedBy))
    return "its requester made that decision: another approver must decide (two-person rule)";
  if (decision.decision === "rejected" && ctx.reopened)
    return "it was reopened for IT to decide: no rejection settles it again";
  return null;
}

/** Whether `userId` asked for `request` themselves: then they may not decide it (another approver must). */
export function isOwnRequest(request: { requestedBy: string }, userId: string): boolean {
  return request.requestedBy === userId;
}

/** Whether `request` was settled by a standing rejection of another request (so its requester may ask IT again). */
export function coveredByRejection(
  request: { id: string; status: string },
  decision: Pick<DecisionFacts, "decision" | "requestId"> | null | undefined,
): boolean {
  return (
    request.status === "rejected" && decision?.decision === "rejected" && decision.requestId !== request.id
  );
}

/** The columns `decisionListFilters` reads: the same names in the SQLite and the PostgreSQL schema. */
export interface DecisionListColumns {
  repository: Column;
  digest: Column;
  decision: Column;
  expiresAt: Column;
  revokedAt: Column;
}

/**
 * The SQL filters of a decisions listing (`decisions --status ...`, `--image`), for either engine's
 * `decisions` table: what `approved`, `expired`, `revoked` and `rejected` mean, as `decisionStatus`
 * reads them, in one place. `pending` lists requests, not decisions, and is the caller's.
 */
export function decisionListFilters(
  t: DecisionListColumns,
  q: { repository?: string; digest?: string; status?: string },
  now: Date,
): SQL[] {
  const at = now.toISOString();
  const filters: SQL[] = [];
  if (q.repository) filters.push(eq(t.repository, canonicalRepository(q.repository)));
  if (q.digest) filters.push(eq(t.digest, q.digest));
  if (q.status === "rejected") filters.push(eq(t.decision, "rejected"));
  else if (q.status === "approved")
    filters.push(
      eq(t.decision, "approved"),
      isNull(t.revokedAt),
      or(isNull(t.expiresAt), gt(t.expiresAt, at))!,
    );
  else if (q.status === "expired")
    filters.push(eq(t.decision, "approved"), isNull(t.revokedAt), lte(t.expiresAt, at));
  else if (q.status === "revoked") filters.push(isNotNull(t.revokedAt));
  return filters;
}

/** The public id of a decision row. */
export function decisionId(seq: number): string {
  return `dec_${seq}`;
}

/** The row number of a decision id, or null when `id` is not one this store handed out. */
export function decisionSeq(id: string): number | null {
  const m = /^dec_([1-9][0-9]{0,15})$/.exec(id);
  return m ? Number(m[1]) : null;
}

/** A decision row as the API shows it, with its status at `now`. */
export function toDecision(r: DecisionRow, now: Date): DecisionRecord {
  return {
    id: decisionId(r.seq),
    requestId: r.requestId,
    repository: r.repository,
    reference: r.reference,
    digest: r.digest,
    decision: r.decision,
    status: decisionStatus(r, now),
    // A revoked approval reads as the revocation: who withdrew it (`watch`) and why.
    decidedBy: r.revokedAt ? (r.revokedBy ?? r.decidedBy) : r.decidedBy,
    requestedBy: r.requestedBy,
    reason: r.revokedAt ? r.revokeReason : r.reason,
    decidedAt: r.decidedAt,
    expiresAt: r.expiresAt,
  };
}

/** The newer of two decision rows (by time, then by row number), or the one that exists. */
export function newer<R extends { decidedAt: string; seq: number }>(
  a: R | undefined,
  b: R | undefined,
): R | undefined {
  if (!a || !b) return a ?? b;
  if (a.decidedAt !== b.decidedAt) return a.decidedAt > b.decidedAt ? a : b;
  return a.seq > b.seq ? a : b;
}

// ---------------------------------------------------------------- guards (pure; both engines throw through them)

/** The request fields the guards read (SQLite and PostgreSQL rows both have them). */
export interface RequestFacts {
  id: string;
  status: string;
  digest: string | null;
  verdict: string | null;
  requestedBy: string;
  decisionSeq: number | null;
}

/** Who may decide `req` (see `Store.decide`): NOT_APPROVER, SELF_DECISION. */
export function assertMayDecide(
  req: RequestFacts,
  input: Pick<DecideInput, "isApprover" | "decidedBy">,
): void {
  if (!input.isApprover)
    throw new StoreError("NOT_APPROVER", `${input.decidedBy} is not an approver: ask IT to decide`);
  if (isOwnRequest(req, input.decidedBy))
    throw new StoreError("SELF_DECISION", "nobody decides their own request: another approver must");
}

/** Whether `req` can get a decision of its own: ALREADY_DECIDED, NOT_DECIDABLE. */
export function assertDecidable(req: RequestFacts): asserts req is RequestFacts & { digest: string } {
  if (req.status === "approved" || req.status === "rejected")
    throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already ${req.status}`);
  if (req.status !== "pending" || !req.digest)
    throw new StoreError(
      "NOT_DECIDABLE",
      `request ${req.id} is ${req.status}: only a checked, pending request can be decided`,
    );
}

/** Whether the policy may approve `req` over the digest's standing decision: NOT_DECIDABLE. */
export function assertPolicyMayApprove(
  req: RequestFacts,
  standing: Pick<DecisionFacts, "decision" | "revokedAt" | "decidedBy"> | null | undefined,
): void {
  if (req.status === "pending" && req.verdict !== "pass")
    throw new StoreError("NOT_DECIDABLE", `request ${req.id} did not pass: a person must decide`);
  if (req.status === "pending" && !policyMayApprove(standing))
    throw new StoreError(
      "NOT_DECIDABLE",
      `${req.digest} was rejected by ${standing!.decidedBy}: the policy never approves a rejected digest`,
    );
}

/**
 * Whether decision `dec` may settle `req` (see `Store.coverByDecision`): "already" when `req`
 * stands on it; "cover" when it may; else throws ALREADY_DECIDED or NOT_DECIDABLE.
 */
export function coverage(
  req: RequestFacts,
  dec: DecisionFacts & { seq: number },
  ctx: { standing: DecisionFacts | null | undefined; reopened: boolean; now: Date },
): "already" | "cover" {
  if (req.decisionSeq === dec.seq) return "already";
  if (req.decisionSeq !== null)
    throw new StoreError("ALREADY_DECIDED", `request ${req.id} stands on another decision`);
  if (req.status !== "pending")
    throw new StoreError("NOT_DECIDABLE", `request ${req.id} is ${req.status}, not pending`);
  const why = whyNotCovered(req, dec, ctx);
  if (why) throw new StoreError("NOT_DECIDABLE", `${decisionId(dec.seq)} does not settle ${req.id}: ${why}`);
  return "cover";
}

/**
 * How `settle` settles a pending, checked request: on the standing decision ("cover"), by the
 * policy ("policy"), or not at all ("none": it waits for IT).
 */
export function settlement(
  req: RequestFacts,
  standing: DecisionFacts | null | undefined,
  ctx: { reopened: boolean; now: Date; policy: SettlePolicy | null },
): "cover" | "policy" | "none" {
  if (standing && !whyNotCovered(req, standing, { standing, reopened: ctx.reopened, now: ctx.now }))
    return "cover";
  if (ctx.policy?.autoApprovePass && req.verdict === "pass" && policyMayApprove(standing)) return "policy";
  return "none";
}

/** Whether `req` may be reopened for IT (see `Store.reopenCovered`): NOT_DECIDABLE unless a rejection of another request covered it. */
export function assertReopenable(
  req: RequestFacts,
  dec: Pick<DecisionFacts, "decision" | "requestId"> | null | undefined,
): asserts dec is Pick<DecisionFacts, "decision" | "requestId"> {
  if (!dec || !coveredByRejection(req, dec))
    throw new StoreError(
      "NOT_DECIDABLE",
      `request ${req.id} is ${req.status}: only a request refused by an earlier rejection can be reopened`,
    );
}

/**
 * Whether a decision already in force settles a CLI `pass` (so none is recorded): the digest's
 * standing person's decision, or this name's newest decision (the policy's approval).
 */
export function cliPassInForce(
  standing: DecisionFacts | null | undefined,
  newestHere: DecisionFacts | null | undefined,
  now: Date,
): boolean {
  return [standing, newestHere].some((d) => d && inForce(d, now));
}

// ---------------------------------------------------------------- service methods

/** What the decision methods need from the store around them. */
export interface DecisionContext {
  db: Db;
  /** See `createStore`'s `writeTx`. */
  writeTx: <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R;
  requireRequest(id: string): RequestRow;
  audit(at: Date, actor: string, action: string, requestId: string | null, detail: unknown): void;
  toRequest(r: RequestRow, now?: Date): RequestRecord;
}

/** The policy settings `settle` applies after the standing decision. */
export interface SettlePolicy {
  autoApprovePass: boolean;
  expireDays: number;
}

/** The store's decision methods over the rules above. */
export function decisionMethods(ctx: DecisionContext) {
  const { writeTx, requireRequest, audit, toRequest } = ctx;
  const orm = ctx.db.orm;
  const ph = sql.placeholder;
  const stmt = {
    // The guard against a concurrent decider: only the statement that moves the request out of
    // `pending` may settle it (for a decision of its own, the UNIQUE request_id on decisions is
    // the second lock).
    settlePending: orm
      .update(requests)
      .set({
        status: sql`${ph("status")}`,
        expiresAt: sql`${ph("expiresAt")}`,
        decisionSeq: sql`${ph("decisionSeq")}`,
        updatedAt: sql`${ph("at")}`,
      })
      .where(and(eq(requests.id, ph("id")), eq(requests.status, "pending")))
      .returning()
      .prepare(),
    linkDecision: orm
      .update(requests)
      .set({ decisionSeq: sql`${ph("decisionSeq")}` })
      .where(eq(requests.id, ph("id")))
      .prepare(),
    insertDecision: orm
      .insert(decisions)
      .values({
        requestId: ph("requestId"),
        repository: ph("repository"),
        reference: ph("reference"),
        digest: ph("digest"),
        decision: ph("decision"),
        decidedBy: ph("decidedBy"),
        requestedBy: ph("requestedBy"),
        reason: ph("reason"),
        decidedAt: ph("decidedAt"),
        expiresAt: ph("expiresAt"),
      })
      .returning()
      .prepare(),
    decisionBySeq: orm
      .select()
      .from(decisions)
      .where(eq(decisions.seq, ph("seq")))
      .prepare(),
    // The newest decision under one name (a policy's approval speaks for that name only).
    newestHere: orm
      .select()
      .from(decisions)
      .where(and(eq(decisions.repository, ph("repository")), eq(decisions.digest, ph("digest"))))
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(1)
      .prepare(),
    // The newest person's decision on a digest under any name (decisions_digest_decided_idx), or
    // an approval `watch` revoked, whoever made it: that too speaks for the digest until a person decides.
    standing: orm
      .select()
      .from(decisions)
      .where(
        and(
          eq(decisions.digest, ph("digest")),
          or(ne(decisions.decidedBy, POLICY_ACTOR), isNotNull(decisions.revokedAt)),
        ),
      )
      .orderBy(desc(decisions.decidedAt), desc(decisions.seq))
      .limit(1)
      .prepare(),
    reopen: orm
      .update(requests)
      .set({
        status: "pending",
        reason: sql`${ph("reason")}`,
        expiresAt: null,
        decisionSeq: null,
        updatedAt: sql`${ph("at")}`,
      })
      .where(and(eq(requests.id, ph("id")), eq(requests.status, "rejected")))
      .returning()
      .prepare(),
    auditHas: orm
      .select({ seq: auditLog.seq })
      .from(auditLog)
      .where(and(eq(auditLog.requestId, ph("requestId")), eq(auditLog.action, ph("action"))))
      .limit(1)
      .prepare(),
  };

  const standingRow = (digest: string): DecisionRow | undefined => stmt.standing.get({ digest });
  const newestHere = (repository: string, digest: string): DecisionRow | undefined =>
    stmt.newestHere.get({ repository, digest });
  const reopened = (requestId: string): boolean =>
    stmt.auditHas.get({ requestId, action: "request.reopened" }) !== undefined;

  /** Write the request's own decision (the caller checked who may make it). */
  function recordDecision(
    req: RequestRow,
    decision: "approved" | "rejected",
    decidedBy: string,
    reason: string | null,
    now: Date,
    expireDays: number,
  ): DecisionRecord {
    assertDecidable(req);
    const decidedAt = now.toISOString();
    const expiresAt = expiryOf(decision, now, expireDays);
    const moved = stmt.settlePending.get({
      id: req.id,
      status: decision,
      expiresAt,
      decisionSeq: null,
      at: decidedAt,
    });
    if (!moved) throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`);
    let row: DecisionRow;
    try {
      row = stmt.insertDecision.get({
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
      })!;
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
        throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`, { cause: err });
      throw err;
    }
    stmt.linkDecision.run({ id: req.id, decisionSeq: row.seq });
    audit(now, decidedBy, `decision.${decision}`, req.id, {
      decisionId: decisionId(row.seq),
      digest: req.digest,
      reason: row.reason,
      expiresAt,
    });
    return toDecision(row, now);
  }

  /** The policy's approval of a pending `pass`; NOT_DECIDABLE over a person's rejection of the digest. */
  function approveByPolicy(req: RequestRow, now: Date, expireDays: number): DecisionRecord {
    assertPolicyMayApprove(req, req.digest ? standingRow(req.digest) : undefined);
    return recordDecision(req, "approved", POLICY_ACTOR, null, now, expireDays);
  }

  /** Settle `req` on decision row `dec` (the rules checked); idempotent for the same decision. */
  function cover(req: RequestRow, dec: DecisionRow, now: Date): RequestRecord {
    const standing = req.digest ? standingRow(req.digest) : undefined;
    if (coverage(req, dec, { standing, reopened: reopened(req.id), now }) === "already")
      return toRequest(req, now);
    const row = stmt.settlePending.get({
      id: req.id,
      status: dec.decision,
      expiresAt: dec.expiresAt,
      decisionSeq: dec.seq,
      at: now.toISOString(),
    });
    if (!row) throw new StoreError("ALREADY_DECIDED", `request ${req.id} was already decided`);
    audit(now, "worker", "request.covered", req.id, {
      decisionId: decisionId(dec.seq),
      decision: dec.decision,
      decidedBy: dec.decidedBy,
      expiresAt: dec.expiresAt,
    });
    return toRequest(row, now);
  }

  const decideTx = writeTx((input: DecideInput): DecisionRecord => {
    const req = requireRequest(input.requestId);
    assertMayDecide(req, input);
    return recordDecision(
      req,
      input.decision,
      input.decidedBy,
      input.reason ?? null,
      input.now,
      input.expireDays,
    );
  });

  const autoApproveTx = writeTx(
    (requestId: string, now: Date, expireDays: number): DecisionRecord =>
      approveByPolicy(requireRequest(requestId), now, expireDays),
  );

  const coverTx = writeTx((requestId: string, id: string, now: Date): RequestRecord => {
    const req = requireRequest(requestId);
    const seq = decisionSeq(id);
    const dec = seq === null ? undefined : stmt.decisionBySeq.get({ seq });
    if (!dec) throw new StoreError("NOT_FOUND", `no decision ${id}`);
    return cover(req, dec, now);
  });

  const settleTx = writeTx((requestId: string, now: Date, policy: SettlePolicy | null): RequestRecord => {
    const req = requireRequest(requestId);
    if (req.status !== "pending" || !req.digest) return toRequest(req, now);
    const standing = standingRow(req.digest);
    const how = settlement(req, standing, { reopened: reopened(req.id), now, policy });
    if (how === "cover") return cover(req, standing!, now);
    if (how === "policy") {
      approveByPolicy(req, now, policy!.expireDays);
      return toRequest(requireRequest(requestId), now);
    }
    return toRequest(req, now);
  });

  const reopenTx = writeTx((requestId: string, actor: string, reason: string, now: Date): RequestRecord => {
    const req = requireRequest(requestId);
    if (req.status === "pending") return toRequest(req, now);
    const dec = req.decisionSeq === null ? undefined : stmt.decisionBySeq.get({ seq: req.decisionSeq });
    assertReopenable(req, dec);
    const row = stmt.reopen.get({ id: requestId, reason, at: now.toISOString() })!;
    audit(now, actor, "request.reopened", requestId, { previousDecisionId: decisionId(dec.seq), reason });
    return toRequest(row, now);
  });

  return {
    /** See `Store.decide`. */
    decide: (input: DecideInput) => decideTx(input),
    /** See `Store.autoApprove`. */
    autoApprove: (requestId: string, now: Date, expireDays: number) =>
      autoApproveTx(requestId, now, expireDays),
    /** See `Store.coverByDecision`. */
    coverByDecision: (requestId: string, id: string, now: Date) => coverTx(requestId, id, now),
    /** See `Store.settle`. */
    settle: (requestId: string, now: Date, policy?: SettlePolicy) => settleTx(requestId, now, policy ?? null),
    /** See `Store.reopenCovered`. */
    reopenCovered: (requestId: string, actor: string, reason: string, now: Date) =>
      reopenTx(requestId, actor, reason, now),
    /** See `Store.getDecision`. */
    getDecision(id: string, now: Date): DecisionRecord | null {
      const seq = decisionSeq(id);
      const row = seq === null ? undefined : stmt.decisionBySeq.get({ seq });
      return row ? toDecision(row, now) : null;
    },
    /** See `Store.standingDecision`. */
    standingDecision(digest: string, now: Date): DecisionRecord | null {
      const row = standingRow(digest);
      return row ? toDecision(row, now) : null;
    },
    /** The row of `currentDecision`: the newer of the digest's standing decision and the newest under this name. */
    currentRow(repository: string, digest: string): DecisionRow | undefined {
      return newer(standingRow(digest), newestHere(repository, digest));
    },
    /**
     * Whether a decision already in force settles a CLI `pass` of `repository@digest` (so none is
     * recorded): the digest's standing person's decision (a rejection is never approved by the
     * policy; an approval is not extended by checking again), or this name's policy approval.
     */
    cliPassSettled(repository: string, digest: string, now: Date): boolean {
      return cliPassInForce(standingRow(digest), newestHere(repository, digest), now);
    },
    /** Write the request's own decision; for the store's other transactions (the caller checked who may). */
    approveByPolicy,
  };
}
