/**
 * The store's tables (drizzle sqlite-core). Migrations are generated from this file by drizzle-kit
 * (`npm run db:generate -- --name <what_it_does>`) into migrations/sqlite and committed; never edit
 * a generated migration after it shipped, add a new one. src/store/schema.pg.ts is the same store
 * for PostgreSQL: change both (test/store/schema-drift.test.ts names what differs).
 *
 * Conventions: timestamps are UTC ISO-8601 strings (`toISOString()`, fixed width, so they sort and
 * compare as text); enums are text with a CHECK; each table has an integer rowid alias `seq` so
 * "newest first" paging is a cheap index walk. Every index names the query it serves.
 */
import { sql } from "drizzle-orm";
import {
  type AnySQLiteColumn,
  check,
  index,
  integer,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/** Requests to use an image: who asked, from where, what, why, and where it stands. */
export const requests = sqliteTable(
  "requests",
  {
    seq: integer("seq").primaryKey(),
    id: text("id").notNull().unique(),
    reference: text("reference").notNull(),
    repository: text("repository").notNull(),
    tag: text("tag"),
    digest: text("digest"),
    requestedBy: text("requested_by").notNull(),
    source: text("source", { enum: ["slack", "cli"] }).notNull(),
    channel: text("channel"),
    reason: text("reason"),
    // `expired` is never stored: it is computed from `expires_at`, copied from the approval.
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
    /** The check job this request waits on (identical requests share one job). Added by 0002. */
    jobId: integer("job_id"),
    /**
     * The decision this request stands on: its own, or the earlier decision on the same digest that
     * covered it (an approval in force, or a standing rejection). Added by 0003.
     */
    decisionSeq: integer("decision_seq").references((): AnySQLiteColumn => decisions.seq),
  },
  (t) => [
    check("requests_status_check", sql`${t.status} IN ('checking','pending','approved','rejected','failed')`),
    check("requests_source_check", sql`${t.source} IN ('slack','cli')`),
    // pendingRequests / decisions --status pending: newest pending first.
    index("requests_status_created_idx").on(t.status, t.createdAt),
    // statusOf by tag: the newest request for repository:tag.
    index("requests_repository_tag_created_idx").on(t.repository, t.tag, t.createdAt),
    // statusOf by digest: the newest request for repository@digest.
    index("requests_repository_digest_created_idx").on(t.repository, t.digest, t.createdAt),
    // The check job attaches its report to every request that joined it.
    index("requests_job_idx").on(t.jobId),
    // inFlightOf (limits.perUserInFlight, on the slash command's ack path): one user's requests
    // whose check is queued or running. Partial: only requests being checked are in it.
    index("requests_requester_checking_idx").on(t.requestedBy).where(sql`${t.status} = 'checking'`),
  ],
);

/**
 * Reports, content-addressed (`id` is a hash of the JSON, so writing the same report twice is one
 * row), looked up by digest + policy version for reuse.
 */
export const reports = sqliteTable(
  "reports",
  {
    seq: integer("seq").primaryKey(),
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
  (t) => [
    // freshReport and statusOf: the newest report for a digest under a policy version.
    index("reports_digest_policy_checked_idx").on(t.digest, t.policyVersion, t.checkedAt),
  ],
);

/** Decisions: one per request at most (UNIQUE request_id), bound to the digest. */
export const decisions = sqliteTable(
  "decisions",
  {
    seq: integer("seq").primaryKey(),
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
    /** When a re-check (`watch`) withdrew this approval; its status reads `revoked` from then on. Added by 0007. */
    revokedAt: text("revoked_at"),
    /** Who revoked it (`watch`). */
    revokedBy: text("revoked_by"),
    /** What the re-check found, one line. */
    revokeReason: text("revoke_reason"),
  },
  (t) => [
    check("decisions_decision_check", sql`${t.decision} IN ('approved','rejected')`),
    // currentDecision and statusOf: the newest decision for repository@digest.
    index("decisions_repository_digest_decided_idx").on(t.repository, t.digest, t.decidedAt),
    // standingDecision: the newest person's decision on a digest, under any name (a decision
    // stands for the digest, whatever repository or host spelling it was asked under).
    index("decisions_digest_decided_idx").on(t.digest, t.decidedAt),
    // history and decisions --image: newest decisions of a repository.
    index("decisions_repository_decided_idx").on(t.repository, t.decidedAt),
    // decisions with no filter: newest first over everything.
    index("decisions_decided_idx").on(t.decidedAt),
    // decisions --status approved|rejected|expired: newest of one kind.
    index("decisions_decision_decided_idx").on(t.decision, t.decidedAt),
  ],
);

/** What repository:tag resolved to over time (feeds `tag.moved`). One row per distinct digest. */
export const tagObservations = sqliteTable(
  "tag_observations",
  {
    seq: integer("seq").primaryKey(),
    repository: text("repository").notNull(),
    tag: text("tag").notNull(),
    digest: text("digest").notNull(),
    firstSeenAt: text("first_seen_at").notNull(),
    lastSeenAt: text("last_seen_at").notNull(),
    times: integer("times").notNull().default(1),
  },
  (t) => [
    uniqueIndex("tag_observations_repository_tag_digest_idx").on(t.repository, t.tag, t.digest),
    // lastKnownDigest: the most recently seen digest of repository:tag.
    index("tag_observations_repository_tag_seen_idx").on(t.repository, t.tag, t.lastSeenAt),
  ],
);

/** Every state change, with actor and time. Append-only: triggers refuse UPDATE and DELETE. */
export const auditLog = sqliteTable(
  "audit_log",
  {
    seq: integer("seq").primaryKey(),
    at: text("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    requestId: text("request_id"),
    detail: text("detail"),
  },
  (t) => [
    // audit(requestId): a request's trail in order.
    index("audit_log_request_idx").on(t.requestId, t.seq),
  ],
);

/**
 * The durable job queue (src/worker/queue.ts). A job is claimed by compare-and-swap on
 * status/lease; a crashed worker's lease expires and the job runs again. Finished jobs stay for the
 * record (their result and last error).
 */
export const jobs = sqliteTable(
  "jobs",
  {
    id: integer("id").primaryKey(),
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
    // claim and nextDueAt, per kind: the oldest queued job of one kind that is due. Each worker
    // claims only its own kinds; without the kind in the index, the Slack worker would walk every
    // queued check (and the other way round) on each claim. Replaces 0002's (status, available_at).
    // `id` last: the claim orders by (available_at, id), and PostgreSQL walks the index in that order
    // instead of sorting every due job (SQLite carries the rowid in each entry anyway).
    index("jobs_status_kind_available_idx").on(t.status, t.kind, t.availableAt, t.id),
    // claim: a running job whose lease expired (its worker died).
    index("jobs_status_lease_idx").on(t.status, t.leaseExpiresAt),
    // Identical work shares one job while it is queued or running; a finished job frees its key.
    uniqueIndex("jobs_active_idempotency_key_idx")
      .on(t.idempotencyKey)
      .where(sql`${t.status} IN ('queued','running')`),
  ],
);

/**
 * Slack deliveries taken (HTTP mode), so a replayed or retried one is answered without being
 * handled twice (src/store/slack.ts). A row lives for a bounded time: long enough to outlast the
 * signature window and Slack's retries, then it is pruned.
 */
export const slackDeliveries = sqliteTable(
  "slack_deliveries",
  {
    seq: integer("seq").primaryKey(),
    /** `X-Slack-Signature`: an HMAC over timestamp and body, so one per signed request. */
    signature: text("signature").notNull(),
    /** SHA-256 of the body: what a retry (new timestamp and signature, `X-Slack-Retry-Num`) repeats. */
    bodyHash: text("body_hash").notNull(),
    receivedAt: text("received_at").notNull(),
    expiresAt: text("expires_at").notNull(),
  },
  (t) => [
    // takeDelivery: an identical signed request is the same delivery.
    uniqueIndex("slack_deliveries_signature_idx").on(t.signature),
    // takeDelivery with X-Slack-Retry-Num: was this body already taken?
    index("slack_deliveries_body_hash_idx").on(t.bodyHash),
    // pruning: the rows past their lifetime, oldest first.
    index("slack_deliveries_expires_idx").on(t.expiresAt),
  ],
);

/**
 * Decision DMs sent to requesters: one per request and decision, recorded once Slack took the post,
 * so a notify job run again (a retry, a crash before the job completed) does not DM twice.
 */
export const slackDms = sqliteTable(
  "slack_dms",
  {
    seq: integer("seq").primaryKey(),
    requestId: text("request_id")
      .notNull()
      .references(() => requests.id),
    /** `dec_…`: a request decided again (reopened) gets a DM for each decision. */
    decisionId: text("decision_id").notNull(),
    channel: text("channel").notNull(),
    ts: text("ts").notNull(),
    sentAt: text("sent_at").notNull(),
  },
  (t) => [
    // dmSent and recordDm: one DM per request and decision.
    uniqueIndex("slack_dms_request_decision_idx").on(t.requestId, t.decisionId),
  ],
);

/**
 * The re-checks of approvals (`watch`, src/worker/watch.ts): one row per approval decision being
 * kept true. A row is added when the scheduler first sees the approval, and its `due_at` moves one
 * interval on after every re-check, so re-checks stay spread as the approvals were. Added by 0007.
 */
export const watchState = sqliteTable(
  "watch_state",
  {
    decisionSeq: integer("decision_seq")
      .primaryKey()
      .references(() => decisions.seq),
    /** When the next re-check is due; `9999-...` once the approval is no longer in force (retired). */
    dueAt: text("due_at").notNull(),
    lastCheckedAt: text("last_checked_at"),
    /** The report of the last re-check that finished. */
    lastReportId: text("last_report_id"),
    /** JSON list of what the last finished re-check found new since the approval (`watch.changed`); null: nothing. */
    changes: text("changes"),
    /** The changes already told to IT and the requester (a hash), so the same state is never posted twice. */
    notifiedKey: text("notified_key"),
    /** When the approaching expiry was announced in the IT thread (once). */
    expiryAnnouncedAt: text("expiry_announced_at"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    // dueRechecks: the approvals whose next re-check is due, oldest first.
    index("watch_state_due_idx").on(t.dueAt),
  ],
);
