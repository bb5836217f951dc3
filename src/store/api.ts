/**
 * The store's public service API: requests, reports, decisions, tag observations and the audit log,
 * as plain objects. No drizzle or better-sqlite3 row types leak past src/store; callers (CLI, Slack,
 * worker) code against these interfaces only. Every timestamp is a UTC ISO-8601 string
 * (`Date#toISOString()`), and every method that depends on the clock takes `now`.
 *
 * Rules the service enforces (issue 4, "Decision rules"):
 * - an approval binds to the image DIGEST, never the tag; a moved tag resolves to a digest with no
 *   decision, so it needs a new one;
 * - approvals expire `expireDays` after the decision: their status reads `expired` from then on;
 * - a rejected digest stays rejected until someone decides again (on a new request);
 * - each decision is written in one transaction with its audit entry, and a request is decided once;
 * - a person's decision stands for the digest, whatever name it is asked under (another spelling of
 *   the registry host, another repository holding the same manifest); a rejected digest is never
 *   approved by the policy;
 * - a new request for a digest that already has a person's decision in force (an unexpired
 *   approval, or a rejection) is covered by it (`settle`, `coverByDecision`): it takes that
 *   decision's outcome and expiry without a new decision, unless its requester made that decision
 *   (two-person rule: it goes to another approver). A requester who was refused by a standing
 *   rejection may ask IT to look again (`reopenCovered`): the request goes back to `pending`, and
 *   IT's new decision supersedes the old one, which is what "until someone decides again" means.
 * - repositories are keyed in canonical form (src/reference/host.ts): every method that takes a
 *   `registry/repository` accepts any spelling of the registry host.
 *
 * The rules themselves live in ./decisions.ts.
 */
import type { Report } from "../checks/report.js";
import { CodedError } from "../errors.js";
import type { Async } from "./async.js";

/** Where a request is in its life. `expired` is computed on read: an approval past its expiry. */
export type RequestStatus = "checking" | "pending" | "approved" | "rejected" | "expired" | "failed";

/** Where a request came from. */
export type RequestSource = "slack" | "cli";

/** A request to use an image: who asked, from where, the reference as typed, and how far it got. */
export interface RequestRecord {
  /** Short, URL-safe, unguessable: `req_` + 16 base32 characters (80 random bits). */
  id: string;
  /** The reference exactly as the user typed it. */
  reference: string;
  /** `registry/repository`, the registry in canonical form (src/reference/host.ts), e.g. `docker.io/library/python`. */
  repository: string;
  tag: string | null;
  /** Set from the reference when pinned, else from the report once the check resolved the tag. */
  digest: string | null;
  /** Slack user id, or the local user name for the CLI. */
  requestedBy: string;
  source: RequestSource;
  /** Slack channel the request was made in (null for the CLI). */
  channel: string | null;
  /** Why the requester needs the image. */
  reason: string | null;
  status: RequestStatus;
  verdict: "pass" | "review" | "block" | null;
  /** Id of the stored report (see `Store.getReport`). */
  reportId: string | null;
  /** The approval message posted to the IT channel, so it can be updated after the decision. */
  itMessage: { channel: string; ts: string } | null;
  /** Slack `response_url` of the slash command, to answer the requester later. */
  responseUrl: string | null;
  createdAt: string;
  updatedAt: string;
  /** Why the request failed (status `failed`), as a code and one line. */
  error: { code: string; message: string } | null;
  /**
   * The decision the request stands on (see `Store.getDecision`): its own, or the earlier decision
   * on the same digest that covered it (then that decision's `requestId` is another request's). Null
   * while undecided.
   */
  decisionId: string | null;
}

/**
 * The decision statuses; `expired` is an approval past `expiresAt` (computed from `now`), `revoked`
 * an approval that a re-check (`watch`) withdrew.
 */
export type DecisionStatus = "approved" | "rejected" | "expired" | "revoked";

/**
 * One decision on one request. The fields of the contract's "Decisions JSON" plus `id`.
 */
export interface DecisionRecord {
  /** `dec_` + a number, in decision order. */
  id: string;
  requestId: string;
  /** `registry/repository`. */
  repository: string;
  /** The reference the requester typed. */
  reference: string;
  /** The digest the decision binds to. */
  digest: string;
  decision: "approved" | "rejected";
  /** Computed from `expiresAt` against `now`. */
  status: DecisionStatus;
  /** Slack user id of the approver, or `"policy"` for an automatic approval of a `pass`. */
  decidedBy: string;
  requestedBy: string;
  /** The decider's reason when given, else the requester's reason at decision time. */
  reason: string | null;
  decidedAt: string;
  /** When an approval stops counting; null for rejections (they stand until decided again). */
  expiresAt: string | null;
}

/**
 * A pending request shaped like a decision row, for `decisions --status pending` and the combined
 * listing: `decision`, `decidedBy`, `decidedAt`, `expiresAt` are null and `status` is `pending`.
 * `id` is null (there is no decision yet); `requestId` names the request.
 */
export interface PendingDecisionRow
  extends Omit<
    DecisionRecord,
    "id" | "decision" | "status" | "decidedBy" | "decidedAt" | "expiresAt" | "digest"
  > {
  id: null;
  digest: string | null;
  decision: null;
  status: "pending";
  decidedBy: null;
  decidedAt: null;
  expiresAt: null;
}

/** A row of `listDecisions`: a decision, or (with `status: "pending"`) a pending request. */
export type DecisionListItem = DecisionRecord | PendingDecisionRow;

/** One audit log entry. The log is append-only: the database refuses UPDATE and DELETE on it. */
export interface AuditEntry {
  at: string;
  /** Slack user id, `"policy"`, `"worker"`, or the CLI user. */
  actor: string;
  /** e.g. `request.created`, `request.checked`, `request.failed`, `decision.approved`, `decision.rejected`. */
  action: string;
  detail: unknown;
}

/** A page of results, newest first; pass `next` back as `before` for the following page (null: no more). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Paging of the listing queries. `limit` defaults to 20 and is capped at 500. */
export interface PageQuery {
  limit?: number;
  /** Opaque cursor from a previous page's `next`. */
  before?: string;
}

/** Codes the store throws. */
export type StoreErrorCode =
  | "NOT_FOUND"
  | "ALREADY_DECIDED"
  | "NOT_DECIDABLE"
  | "SELF_DECISION"
  | "NOT_APPROVER"
  | "NOT_A_STORE"
  | "NOT_WRITABLE"
  | "MIGRATION_FAILED"
  | "SCHEMA_OUTDATED"
  | "DUPLICATE"
  | "BAD_CURSOR"
  /** The PostgreSQL server cannot be reached, or refused the login. */
  | "UNREACHABLE"
  /** pg_dump failed. */
  | "BACKUP_FAILED"
  /** The operation needs the other engine (a file copy of a PostgreSQL store). */
  | "WRONG_ENGINE";

/** An error of the store, with a code from `StoreErrorCode`. */
export class StoreError extends CodedError<StoreErrorCode> {}

/** What `createRequest` needs. */
export interface CreateRequestInput {
  reference: string;
  /** `registry/repository`. */
  repository: string;
  tag: string | null;
  /** When the reference pins one. */
  digest?: string | null;
  requestedBy: string;
  source: RequestSource;
  channel?: string | null;
  reason?: string | null;
  responseUrl?: string | null;
}

/** What `recordCliReport` needs besides the report. */
export interface CliReportInput {
  /** Who ran the check, as requests and the audit log name them: `cli:<os user>`. */
  requestedBy: string;
  /** The policy's `approvals` settings. */
  approvals: { autoApprovePass: boolean; expireDays: number };
}

/** What `recordCliReport` stored. */
export interface CliReportRecord {
  reportId: string;
  /** The request recorded for the policy's approval of a `pass`; null when none was recorded. */
  request: RequestRecord | null;
  /** The policy's approval; null when none was recorded. */
  decision: DecisionRecord | null;
}

/** What `decide` needs. */
export interface DecideInput {
  requestId: string;
  decision: "approved" | "rejected";
  /** Slack user id of the decider. */
  decidedBy: string;
  /** Whether `decidedBy` is an approver (resolved by the caller from IMAGE_CHECK_APPROVERS and groups). */
  isApprover: boolean;
  reason?: string | null;
  now: Date;
  /** Days an approval stays valid (policy `approvals.expireDays`). */
  expireDays: number;
}

/** Filters of `listDecisions`. `pending` lists pending requests as `PendingDecisionRow`s. */
export interface DecisionQuery extends PageQuery {
  repository?: string;
  digest?: string;
  status?: DecisionStatus | "pending";
}

/** The answer of `statusOf`: the newest request, the decision in force, and the latest report. */
export interface StatusAnswer {
  request: RequestRecord | null;
  decision: DecisionRecord | null;
  report: Report | null;
  /** The re-checks of the decision's approval (`watch`), when it was ever scheduled. */
  watch?: WatchSummary | null;
}

/** When an approval was last re-checked (`watch`) and what the re-check found new since it. */
export interface WatchSummary {
  lastCheckedAt: string | null;
  /** Null or empty: nothing new since the approval. */
  changes: { id: string; severity: string; title: string }[] | null;
}

/**
 * The store's services, as the SQLite statements implement them: synchronous (better-sqlite3 is
 * synchronous and fast, and SQLite serializes writers). Callers use `Store`, the same methods
 * returning Promises, so that an engine that answers over the network implements it too.
 */
export interface SyncStore {
  // --- requests ---

  /** Record a new request in status `checking` (audit `request.created`). */
  createRequest(input: CreateRequestInput, now: Date): RequestRecord;
  /** The request, or null. With `now`, an approval past its expiry reads as `expired`. */
  getRequest(id: string, now?: Date): RequestRecord | null;
  /**
   * Store the report (idempotent: the same report twice is one row; a request that already has a
   * report is returned unchanged) and move the request from `checking` to `pending`, setting digest,
   * verdict and reportId. A report with no digest (the check could not resolve the image) moves the
   * request to `failed` with code `NO_DIGEST`. Auto-approval of a `pass` is a separate call
   * (`autoApprove`), made by the worker per policy. Throws NOT_FOUND.
   */
  attachReport(requestId: string, report: Report, now: Date): RequestRecord;
  /**
   * Record a report of `image-check check`, with its tag observation and an audit entry, so later
   * `status` queries and `tag.moved` see it. A `pass` that the policy approves (`autoApprovePass`)
   * also becomes a request (source `cli`) approved by `"policy"` for `expireDays`, in the same
   * transaction, so `decisions` and Slack show it; unless a decision is already in force for that
   * digest (an unexpired approval, or a rejection, which a policy never overrides). Anything else
   * records no request: IT was not asked, and a CLI user cannot be told of a decision.
   * Idempotent for the same report (the second time, the first one's approval is in force).
   */
  recordCliReport(report: Report, now: Date, input: CliReportInput): CliReportRecord;
  /** Mark a request `failed` (audit `request.failed`). No-op on a request already past `checking`. Throws NOT_FOUND. */
  failRequest(requestId: string, error: { code: string; message: string }, now: Date): RequestRecord;
  /** Remember the approval message posted to the IT channel. Throws NOT_FOUND. */
  setItMessage(requestId: string, channel: string, ts: string): void;
  /** Set the requester's reason (e.g. from the modal). Throws NOT_FOUND. */
  setReason(requestId: string, reason: string, now: Date): RequestRecord;

  // --- decisions ---

  /**
   * Decide a pending request, in one transaction with its audit entry. Refuses with StoreError:
   * NOT_FOUND; NOT_APPROVER (`isApprover` false); SELF_DECISION (`decidedBy === requestedBy`);
   * ALREADY_DECIDED (a decision exists; guarded by a conditional UPDATE ... WHERE status='pending'
   * and a UNIQUE request id on decisions, so two concurrent processes cannot both decide);
   * NOT_DECIDABLE (still `checking`, or `failed`). Approvals expire after `expireDays`.
   */
  decide(input: DecideInput): DecisionRecord;
  /**
   * Approve a pending `pass` as `decidedBy: "policy"`. NOT_DECIDABLE unless the verdict is `pass`, or
   * when a person's rejection stands for the digest (under any name): the policy never overrides it.
   */
  autoApprove(requestId: string, now: Date, expireDays: number): DecisionRecord;
  /**
   * Settle a pending request with a decision already in force for its digest, without writing a new
   * decision or extending an approval: the request becomes `approved` (with the decision's expiry)
   * or `rejected`, references the decision, and the audit log says `request.covered`. The decision
   * must be the digest's standing decision (`standingDecision`, under any name) and still in force
   * at `now` (an approval not expired; a rejection). Idempotent: a request already covered by that
   * decision is returned unchanged. Throws NOT_FOUND (request or decision); ALREADY_DECIDED (the
   * request stands on another decision); NOT_DECIDABLE (not pending, another digest, not in force,
   * made by the policy, made by the request's own requester (two-person rule), or a rejection over
   * a request reopened by `reopenCovered`: those are for another person to decide).
   */
  coverByDecision(requestId: string, decisionId: string, now: Date): RequestRecord;
  /**
   * Settle a checked, pending request without asking anyone where the rules allow (./decisions.ts),
   * in one transaction: on the digest's standing decision when it covers the request (as
   * `coverByDecision`); else, given `policy`, a `pass` is approved by the policy when it says so and
   * no person's rejection stands. Anything else stays pending for IT. Returns the request as it
   * stands; a request no longer pending is returned unchanged.
   */
  settle(
    requestId: string,
    now: Date,
    policy?: { autoApprovePass: boolean; expireDays: number },
  ): RequestRecord;
  // (Only a person's decision covers: a decision by "policy" is NOT_DECIDABLE here, since the policy
  // that made it, e.g. a CLI run's --policy, need not be the one in force.)
  /**
   * The requester asks IT to look again at a request that a standing rejection covered: back to
   * `pending` with the new reason, no decision referenced (audit `request.reopened`); the next
   * decision on it supersedes the old rejection. Idempotent on a request already pending. Throws
   * NOT_FOUND; NOT_DECIDABLE unless the request was covered by a rejection (a request's own
   * decision is final).
   */
  reopenCovered(requestId: string, actor: string, reason: string, now: Date): RequestRecord;
  /** A decision by id (`dec_…`), with its status at `now`, or null. */
  getDecision(id: string, now: Date): DecisionRecord | null;
  /**
   * The decision that governs `repository@digest`: the newer of the digest's standing decision (a
   * person's, made under any name) and the newest decision under this name (which may be the
   * policy's), with status `expired` once past `expiresAt`; a rejection stays until a newer
   * decision. Null: never decided.
   */
  currentDecision(repository: string, digest: string, now: Date): DecisionRecord | null;
  /**
   * The newest decision a person made on `digest`, under any name (status `expired` once past its
   * expiry): what stands for the digest wherever it is asked for. Null: no person decided it.
   */
  standingDecision(digest: string, now: Date): DecisionRecord | null;

  // --- reports and tags ---

  /** A stored report by id, or null. */
  getReport(id: string): Report | null;
  /** The newest report for `digest` under `policyVersion` checked within `maxAgeMs` before `now`, or null. */
  freshReport(digest: string, policyVersion: string, now: Date, maxAgeMs: number): Report | null;
  /** Remember that `repository:tag` resolved to `digest` at `now`. */
  recordTagObservation(repository: string, tag: string, digest: string, now: Date): void;
  /** The digest `repository:tag` resolved to when last observed here, or null (feeds `tag.moved`). */
  lastKnownDigest(repository: string, tag: string): string | null;

  // --- queries (shared by the CLI and Slack), newest first ---

  /** Decisions (or pending requests with `status: "pending"`), filtered, newest first, paged. */
  listDecisions(q: DecisionQuery, now: Date): Page<DecisionListItem>;
  /** Requests waiting for a decision, newest first, paged. */
  pendingRequests(q: PageQuery): Page<RequestRecord>;
  /**
   * What is known about `repository` at a tag or a digest: the newest request for it, the decision in
   * force for its digest (for a tag: the digest the tag last resolved to here), the latest report.
   */
  statusOf(repository: string, at: { tag?: string; digest?: string }, now: Date): StatusAnswer;
  /** Every decision on `repository`, newest first, paged. */
  history(repository: string, q: PageQuery, now: Date): Page<DecisionRecord>;
  /** The audit trail of one request, oldest first. */
  audit(requestId: string): AuditEntry[];

  /** Close the database. */
  close(): void;
}

/** The store's services (see `SyncStore` for each method): every method returns a Promise. */
export type Store = Async<SyncStore>;

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** Open without writing (no migrations; SCHEMA_OUTDATED when the file needs them). Default false. */
  readonly?: boolean;
  /** Apply pending migrations on open. Default true unless `readonly`. */
  migrate?: boolean;
  /** Random bytes for ids; injected by tests. Default `crypto.randomBytes`. */
  randomBytes?: (n: number) => Uint8Array;
}

/**
 * Open (creating when missing, then migrating) the store at `path`. Implemented in
 * src/store/service.ts as `openStore(path: string, opts?: OpenStoreOptions): Store`.
 * Throws StoreError NOT_WRITABLE, NOT_A_STORE, MIGRATION_FAILED, SCHEMA_OUTDATED.
 */
export type OpenStore = (path: string, opts?: OpenStoreOptions) => Store;
