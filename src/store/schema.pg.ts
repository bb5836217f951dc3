/**
 * The store's tables for PostgreSQL (drizzle pg-core): the same tables, columns, indexes and checks
 * as src/store/schema.ts, which stays the reference (read its comments for what each index serves).
 * drizzle has no dialect-neutral schema, so the two files are kept in step by hand, and
 * test/store/schema-drift.test.ts names anything that differs. Migrations are generated from this
 * file into migrations/postgres (`npm run db:generate:postgres -- --name <what_it_does>`).
 *
 * Type choices: timestamps stay ISO-8601 text, as in SQLite, so both engines compare and page them
 * the same way; `seq`/`id` are bigint identities (SQLite's rowid is 64-bit too), read as JS numbers
 * (exact below 2^53); enums stay text with a CHECK, so adding a value is a one-line migration on
 * both engines.
 */
import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  check,
  index,
  integer,
  pgTable,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";

/** A 64-bit identity key, read as a JS number. */
const seqKey = (name: string) => bigint(name, { mode: "number" }).primaryKey().generatedByDefaultAsIdentity();

/** Requests to use an image: who asked, from where, what, why, and where it stands. */
export const requests = pgTable(
  "requests",
  {
    seq: seqKey("seq"),
    id: text("id").notNull().unique(),
    reference: text("reference").notNull(),
    repository: text("repository").notNull(),
    tag: text("tag"),
    digest: text("digest"),
    requestedBy: text("requested_by").notNull(),
    source: text("source", { enum: ["slack", "cli"] }).notNull(),
    channel: text("channel"),
    reason: text("reason"),
    status: text("status", { enum: ["checking", "pending", "approved", "rejected", "failed"] }).notNull(),
    verdict: text("verdict", { enum: ["pass", "review", "block"] }),
    reportId: text("report_id").references(() => reports.id),
    itChannel: text("it_channel"),
    itTs: text("it_ts"),
    responseUrl: text("response_url"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    expiresAt: text("expires_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    jobId: bigint("job_id", { mode: "number" }),
    decisionSeq: bigint("decision_seq", { mode: "number" }).references((): AnyPgColumn => decisions.seq),
  },
  (t) => [
    check("requests_status_check", sql`${t.status} IN ('checking','pending','approved','rejected','failed')`),
    check("requests_source_check", sql`${t.source} IN ('slack','cli')`),
    index("requests_status_created_idx").on(t.status, t.createdAt),
    index("requests_repository_tag_created_idx").on(t.repository, t.tag, t.createdAt),
    index("requests_repository_digest_created_idx").on(t.repository, t.digest, t.createdAt),
    index("requests_job_idx").on(t.jobId),
    index("requests_requester_checking_idx").on(t.requestedBy).where(sql`${t.status} = 'checking'`),
  ],
);

/** Reports, content-addressed, looked up by digest + policy version for reuse. */
export const reports = pgTable(
  "reports",
  {
    seq: seqKey("seq"),
    id: text("id").notNull().unique(),
    digest: text("digest"),
    policyVersion: text("policy_version").notNull(),
    repository: text("repository").notNull(),
    reference: text("reference").notNull(),
    verdict: text("verdict", { enum: ["pass", "review", "block"] }).notNull(),
    checkedAt: text("checked_at").notNull(),
    json: text("json").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("reports_digest_policy_checked_idx").on(t.digest, t.policyVersion, t.checkedAt)],
);

/** Decisions: one per request at most (UNIQUE request_id), bound to the digest. */
export const decisions = pgTable(
  "decisions",
  {
    seq: seqKey("seq"),
    requestId: text("request_id")
      .notNull()
      .unique()
      .references(() => requests.id),
    repository: text("repository").notNull(),
    reference: text("reference").notNull(),
    digest: text("digest").notNull(),
    decision: text("decision", { enum: ["approved", "rejected"] }).notNull(),
    decidedBy: text("decided_by").notNull(),
    requestedBy: text("requested_by").notNull(),
    reason: text("reason"),
    decidedAt: text("decided_at").notNull(),
    expiresAt: text("expires_at"),
    revokedAt: text("revoked_at"),
    revokedBy: text("revoked_by"),
    revokeReason: text("revoke_reason"),
  },
  (t) => [
    check("decisions_decision_check", sql`${t.decision} IN ('approved','rejected')`),
    index("decisions_repository_digest_decided_idx").on(t.repository, t.digest, t.decidedAt),
    index("decisions_digest_decided_idx").on(t.digest, t.decidedAt),
    index("decisions_repository_decided_idx").on(t.repository, t.decidedAt),
    index("decisions_decided_idx").on(t.decidedAt),
    index("decisions_decision_decided_idx").on(t.decision, t.decidedAt),
  ],
);

/** What repository:tag resolved to over time (feeds `tag.moved`). One row per distinct digest. */
export const tagObservations = pgTable(
  "tag_observations",
  {
    seq: seqKey("seq"),
    repository: text("repository").notNull(),
    tag: text("tag").notNull(),
    digest: text("digest").notNull(),
    firstSeenAt: text("first_seen_at").notNull(),
    lastSeenAt: text("last_seen_at").notNull(),
    times: integer("times").notNull().default(1),
  },
  (t) => [
    uniqueIndex("tag_observations_repository_tag_digest_idx").on(t.repository, t.tag, t.digest),
    index("tag_observations_repository_tag_seen_idx").on(t.repository, t.tag, t.lastSeenAt),
  ],
);

/**
 * Every state change, with actor and time. Append-only: triggers refuse UPDATE, DELETE and TRUNCATE
 * (migrations/postgres, audit_log_append_only).
 */
export const auditLog = pgTable(
  "audit_log",
  {
    seq: seqKey("seq"),
    at: text("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    requestId: text("request_id"),
    detail: text("detail"),
  },
  (t) => [index("audit_log_request_idx").on(t.requestId, t.seq)],
);

/** The durable job queue: claimed by compare-and-swap on status/lease, as in SQLite. */
export const jobs = pgTable(
  "jobs",
  {
    id: seqKey("id"),
    kind: text("kind").notNull(),
    payload: text("payload").notNull(),
    status: text("status", { enum: ["queued", "running", "done", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull(),
    availableAt: text("available_at").notNull(),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: text("lease_expires_at"),
    idempotencyKey: text("idempotency_key"),
    result: text("result"),
    lastErrorCode: text("last_error_code"),
    lastErrorMessage: text("last_error_message"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    finishedAt: text("finished_at"),
  },
  (t) => [
    check("jobs_status_check", sql`${t.status} IN ('queued','running','done','failed')`),
    // `id` last: the claim orders by (available_at, id), and PostgreSQL walks the index in that order
    // instead of sorting every due job (SQLite carries the rowid in each entry anyway).
    index("jobs_status_kind_available_idx").on(t.status, t.kind, t.availableAt, t.id),
    index("jobs_status_lease_idx").on(t.status, t.leaseExpiresAt),
    uniqueIndex("jobs_active_idempotency_key_idx")
      .on(t.idempotencyKey)
      .where(sql`${t.status} IN ('queued','running')`),
  ],
);

/** Slack deliveries taken (HTTP mode), so a replay or a Slack retry of one is handled once. */
export const slackDeliveries = pgTable(
  "slack_deliveries",
  {
    seq: seqKey("seq"),
    signature: text("signature").notNull(),
    bodyHash: text("body_hash").notNull(),
    receivedAt: text("received_at").notNull(),
    expiresAt: text("expires_at").notNull(),
  },
  (t) => [
    uniqueIndex("slack_deliveries_signature_idx").on(t.signature),
    index("slack_deliveries_body_hash_idx").on(t.bodyHash),
    index("slack_deliveries_expires_idx").on(t.expiresAt),
  ],
);

/** Decision DMs sent to requesters: one per request and decision. */
export const slackDms = pgTable(
  "slack_dms",
  {
    seq: seqKey("seq"),
    requestId: text("request_id")
      .notNull()
      .references(() => requests.id),
    decisionId: text("decision_id").notNull(),
    channel: text("channel").notNull(),
    ts: text("ts").notNull(),
    sentAt: text("sent_at").notNull(),
  },
  (t) => [uniqueIndex("slack_dms_request_decision_idx").on(t.requestId, t.decisionId)],
);

/** The re-checks of approvals (`watch`): one row per approval decision being kept true. */
export const watchState = pgTable(
  "watch_state",
  {
    decisionSeq: bigint("decision_seq", { mode: "number" })
      .primaryKey()
      .references(() => decisions.seq),
    dueAt: text("due_at").notNull(),
    lastCheckedAt: text("last_checked_at"),
    lastReportId: text("last_report_id"),
    changes: text("changes"),
    notifiedKey: text("notified_key"),
    expiryAnnouncedAt: text("expiry_announced_at"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("watch_state_due_idx").on(t.dueAt)],
);
