/**
 * `watch`: keep approvals true. Every approved, unexpired digest is re-checked once per
 * `watch.intervalHours` through the durable queue (job kind `recheck`), by `serve` on a schedule and
 * by `image-check watch --once` for cron. A re-check compares what it finds with what the approval
 * saw (`watch.changed`, src/checks/watch.ts):
 * - nothing new: the approval stands, nothing is posted;
 * - new findings below `watch.revokeAt`: the approval stands, IT's thread and the requester are told;
 * - at or above it: the approval is revoked (decided by `watch`) and a new request for the digest
 *   goes to IT with the re-check's report;
 * - an approval that expires within a week is announced once.
 *
 * Exactly once, across crashes: the re-check's outcome, the revocation, the new request and the
 * Slack jobs that tell people are written in one transaction, guarded by the job's `dueAt` (the row
 * must still be due at that time). A worker killed before it commits leaves the job to run again
 * (the one re-check that counts); killed after, the re-run finds the row moved on and does nothing.
 * The same changes found again are never posted twice (`notifiedKey`).
 */
import { z } from "zod";
import type { Report } from "../checks/report.js";
import { type Severity, severityRank } from "../checks/types.js";
import { type WatchChange, worstChange } from "../checks/watch.js";
import { CodedError } from "../errors.js";
import type { DecisionRecord, RequestRecord } from "../store/api.js";
import type { OpenedStore } from "../store/service.js";
import { changesKey, type DueRecheck, type WatchStore } from "../store/watch.js";
import type { CheckRunner, ExclusiveRound, JobHandlerSpec, JobQueue } from "./types.js";

/** The job kind of a re-check. */
export const RECHECK_JOB = "recheck";

/** Defaults, each with why. */
export const WATCH_DEFAULTS = {
  /** "Expires soon" is a week: time for IT to look again before anyone's deploy stops. */
  expiryNoticeDays: 7,
  /** `serve` schedules once a minute: fine enough to spread a day's re-checks, cheap (one index walk). */
  tickMs: 60_000,
  /** A re-check retries temporary registry trouble a few times, then records that it could not finish. */
  maxAttempts: 3,
};

/** The payload of a `recheck` job, shared by the producer (`enqueueDue`) and the handler. */
export const recheckPayloadSchema = z
  .object({
    decisionId: z.string().regex(/^dec_[1-9][0-9]{0,15}$/),
    dueAt: z.iso.datetime(),
  })
  .strict();
/** The payload of a `recheck` job. */
export type RecheckPayload = z.infer<typeof recheckPayloadSchema>;

/** A `recheck` payload that does not parse: a bug or a hand-edited queue, never worth a retry. */
export class WatchError extends CodedError<"BAD_PAYLOAD"> {}

/** What a re-check tells people about. Handed to the notifier inside the re-check's transaction. */
export type WatchEvent =
  | { kind: "changed"; decision: DecisionRecord; request: RequestRecord; changes: WatchChange[] }
  | {
      kind: "revoked";
      decision: DecisionRecord;
      request: RequestRecord;
      changes: WatchChange[];
      /** The new request IT is asked to decide. */
      reopened: RequestRecord;
    }
  | { kind: "expiring"; decision: DecisionRecord; request: RequestRecord };

/**
 * Tells people (the Slack app enqueues its posts here). Called inside the re-check's transaction:
 * it must only write to the store (enqueue jobs), never call out.
 */
export interface WatchNotifier {
  notify(event: WatchEvent, at: Date): Promise<void>;
}

/** What the re-check job needs. */
export interface RecheckDeps {
  store: OpenedStore;
  watch: WatchStore;
  runner: CheckRunner;
  /** The policy's `watch` block. */
  policy: { watch: { intervalHours: number; revokeAt: Severity } };
  now: () => Date;
  /** Null when nobody is to be told (no Slack configured): outcomes are still recorded. */
  notifier?: WatchNotifier | null;
}

/** The stored result of a `recheck` job. */
export interface RecheckOutcome {
  outcome: "skipped" | "unchanged" | "changed" | "revoked" | "incomplete";
  reason?: string;
  /** Ids of what is new since the approval. */
  changes?: string[];
  /** The new request sent to IT after a revocation. */
  requestId?: string;
}

/** The idempotency key of a re-check: one job per approval and due time while it is queued or running. */
export function recheckIdempotencyKey(p: RecheckPayload): string {
  return `${RECHECK_JOB}:${p.decisionId}:${p.dueAt}`;
}

/** Enqueue a re-check for each due approval (joining any already queued). Returns how many were new. */
export async function enqueueDue(
  queue: Pick<JobQueue, "enqueue">,
  due: readonly DueRecheck[],
  now: Date,
): Promise<number> {
  let created = 0;
  for (const d of due) {
    const payload: RecheckPayload = recheckPayloadSchema.parse(d);
    const out = await queue.enqueue(
      {
        kind: RECHECK_JOB,
        payload,
        idempotencyKey: recheckIdempotencyKey(payload),
        maxAttempts: WATCH_DEFAULTS.maxAttempts,
      },
      now,
    );
    if (out.created) created++;
  }
  return created;
}

/**
 * How many re-checks one `serve` pass may start: the watched approvals spread evenly over the
 * interval, at least one. A backlog (watch newly turned on over old approvals) drains over one
 * interval instead of in a burst.
 */
export function roundBudget(watched: number, tickMs: number, intervalHours: number): number {
  const perInterval = (intervalHours * 3_600_000) / tickMs;
  return Math.max(1, Math.ceil(watched / Math.max(1, perInterval)));
}

/** The reference a re-check gathers: the approved digest, with the tag of the request so a moved tag shows. */
export function recheckReference(decision: DecisionRecord, request: RequestRecord | null): string {
  const tag = request?.tag;
  return `${decision.repository}${tag ? `:${tag}` : ""}@${decision.digest}`;
}

/** One line for the revocation's reason (decisions JSON `reason`). */
export function revokeReason(changes: readonly WatchChange[]): string {
  return `re-check found what the approval did not see: ${changes.map((c) => `${c.id} (${c.severity})`).join(", ")}`;
}

/** The `recheck` job handler. */
export function recheckJobHandler(deps: RecheckDeps): JobHandlerSpec {
  const { store, watch, now } = deps;
  return {
    async run(raw, ctx): Promise<RecheckOutcome> {
      const parsed = recheckPayloadSchema.safeParse(raw);
      if (!parsed.success)
        throw new WatchError("BAD_PAYLOAD", `not a recheck payload: ${parsed.error.message}`);
      const p = parsed.data;
      const row = await watch.get(p.decisionId);
      if (!row || row.dueAt !== p.dueAt) return { outcome: "skipped", reason: "already re-checked" };
      const started = now();
      const decision = await store.getDecision(p.decisionId, started);
      if (decision?.status !== "approved") {
        await watch.retire(p.decisionId, started);
        return { outcome: "skipped", reason: decision ? decision.status : "no such decision" };
      }
      if ((await store.currentDecision(decision.repository, decision.digest, started))?.id !== decision.id) {
        await watch.retire(p.decisionId, started);
        return { outcome: "skipped", reason: "superseded by a newer decision" };
      }
      const request = await store.getRequest(decision.requestId, started);
      const approvalReport = request?.reportId ? await store.getReport(request.reportId) : null;
      const check = (reference: string) =>
        deps.runner(
          {
            reference,
            ...(approvalReport?.image.platform ? { platform: approvalReport.image.platform } : {}),
            approval: {
              findings: approvalReport?.findings ?? [],
              vulnerabilities: approvalReport?.vulnerabilities?.items ?? null,
            },
            knownDigest: decision.digest,
            lastAttempt: ctx.attempt >= ctx.maxAttempts,
          },
          ctx.signal,
        );
      // A tag request is re-checked by its tag first: while the tag still names the approved
      // digest, that is the approved image's re-check, and it costs exactly the requests of one
      // check (the tag's resolution comes with its manifest). Only when the tag moved (or could not
      // be read) is the approved digest re-checked under `name:tag@digest`, which says so.
      let report = request?.tag ? await check(`${decision.repository}:${request.tag}`) : null;
      if (report?.image.digest !== decision.digest) report = await check(recheckReference(decision, request));
      return record(p, decision, request, report);
    },
  };

  async function record(
    p: RecheckPayload,
    decision: DecisionRecord,
    request: RequestRecord | null,
    report: Report,
  ): Promise<RecheckOutcome> {
    const at = now();
    const intervalHours = deps.policy.watch.intervalHours;
    // A re-check that could not finish (registry down, signatures unreadable) says nothing new:
    // never revoke or notify on a partial picture; the next interval tries again.
    const finished = !report.findings.some((f) => f.id === "check.incomplete");
    const changed = report.findings.find((f) => f.id === "watch.changed");
    const changes = finished ? ((changed?.evidence.changes as WatchChange[] | undefined) ?? []) : [];
    const worst = worstChange(changes);
    const revoke = worst !== null && severityRank(worst) >= severityRank(deps.policy.watch.revokeAt);
    const row = await watch.get(p.decisionId);
    const key = changesKey(changes);
    const tell = key !== null && key !== row?.notifiedKey;
    const expiring =
      !revoke &&
      decision.expiresAt !== null &&
      !row?.expiryAnnouncedAt &&
      Date.parse(decision.expiresAt) - at.getTime() <= WATCH_DEFAULTS.expiryNoticeDays * 86_400_000;

    return watch.transaction(async (): Promise<RecheckOutcome> => {
      const written = await watch.recordRecheck({
        decisionId: p.decisionId,
        dueAt: p.dueAt,
        now: at,
        intervalHours,
        finished,
        changes,
        notified: tell,
        expiryAnnounced: expiring && request !== null,
        revoke: revoke ? { reason: revokeReason(changes) } : null,
      });
      if (!written) return { outcome: "skipped", reason: "already re-checked" };
      const ids = changes.map((c) => c.id);
      if (!request)
        return { outcome: revoke ? "revoked" : finished ? "unchanged" : "incomplete", changes: ids };
      const notifier = deps.notifier;
      if (revoke) {
        const created = await store.createRequest(
          {
            reference: request.reference,
            repository: request.repository,
            tag: request.tag,
            digest: decision.digest,
            requestedBy: request.requestedBy,
            source: request.source,
            channel: request.channel,
            reason: request.reason,
          },
          at,
        );
        const reopened = await store.attachReport(created.id, report, at);
        const revoked = (await store.getDecision(decision.id, at)) ?? decision;
        await notifier?.notify({ kind: "revoked", decision: revoked, request, changes, reopened }, at);
        return { outcome: "revoked", changes: ids, requestId: reopened.id };
      }
      if (tell) await notifier?.notify({ kind: "changed", decision, request, changes }, at);
      if (expiring) await notifier?.notify({ kind: "expiring", decision, request }, at);
      if (!finished) return { outcome: "incomplete" };
      return { outcome: changes.length ? "changed" : "unchanged", changes: ids };
    });
  }
}

/** A running schedule (`serve`). */
export interface WatchScheduler {
  /** Run one pass now (also what each tick does); returns how many re-checks it enqueued. */
  pass(): Promise<number>;
  stop(): void;
}

/** What the scheduler needs. */
export interface WatchSchedulerDeps {
  watch: WatchStore;
  queue: Pick<JobQueue, "enqueue">;
  intervalHours: number;
  now: () => Date;
  tickMs?: number;
  onError?: (err: unknown) => void;
  /** Runs each pass so that one of several replicas does (`OpenedStore.schedulerRound`); by default every pass runs. */
  exclusive?: ExclusiveRound;
}

/**
 * `serve`'s schedule: every tick, enqueue up to `roundBudget` due re-checks. Nothing when
 * `intervalHours` is 0 (watch off).
 */
export function startWatchScheduler(deps: WatchSchedulerDeps): WatchScheduler {
  const tickMs = deps.tickMs ?? WATCH_DEFAULTS.tickMs;
  const exclusive: ExclusiveRound =
    deps.exclusive ?? (async (round) => ({ ran: true as const, value: await round() }));
  const pass = async (): Promise<number> => {
    if (deps.intervalHours <= 0) return 0;
    const out = await exclusive(async () => {
      const at = deps.now();
      const limit = roundBudget(await deps.watch.watchedCount(), tickMs, deps.intervalHours);
      const due = await deps.watch.schedule(at, { intervalHours: deps.intervalHours, limit });
      return enqueueDue(deps.queue, due, at);
    });
    return out.ran ? out.value : 0;
  };
  const timer =
    deps.intervalHours > 0
      ? setInterval(() => {
          pass().catch((err: unknown) => deps.onError?.(err));
        }, tickMs)
      : undefined;
  timer?.unref();
  return {
    pass,
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}

/**
 * One whole round (`watch --once`): enrol every approval, then enqueue every re-check due now.
 * Returns how many are due. The caller runs the workers until the queue is idle.
 */
export async function enqueueRound(deps: Omit<WatchSchedulerDeps, "tickMs" | "onError">): Promise<number> {
  if (deps.intervalHours <= 0) return 0;
  const at = deps.now();
  // The store enrols in batches; keep passing until the number watched stops growing.
  let watched = -1;
  let due: DueRecheck[] = [];
  while (watched !== (await deps.watch.watchedCount())) {
    watched = await deps.watch.watchedCount();
    due = await deps.watch.schedule(at, { intervalHours: deps.intervalHours, limit: Math.max(1, watched) });
  }
  await enqueueDue(deps.queue, due, at);
  return due.length;
}
