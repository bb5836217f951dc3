/**
 * What the Slack app does, apart from talking to Slack: submit a check, decide, store a reason,
 * answer queries. Listeners call these and then ack; each state change is written together with
 * the jobs that announce it (one SQLite transaction), so nothing acknowledged is ever lost.
 */

import { isCoded } from "../errors.js";
import type { Policy } from "../policy/schema.js";
import { effectiveTag, repositoryPath } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import type {
  DecisionListItem,
  DecisionRecord,
  Page,
  RequestRecord,
  StatusAnswer,
  Store,
} from "../store/api.js";
import { coveredByRejection, isOwnRequest } from "../store/decisions.js";
import type { SlackDelivery, SlackLedger } from "../store/slack.js";
import type { WatchStore } from "../store/watch.js";
import type { JobQueue } from "../worker/types.js";
import { APPROVER_ACK_BUDGET_MS, type Approvers } from "./approvers.js";
import { JOB } from "./ids.js";
import { decisionOf, enqueueRequestJob } from "./jobs.js";
import type { Metrics } from "./metrics.js";
import type { RefusalCode } from "./render/refusal.js";

/**
 * How long a taken delivery is remembered. A signed request is accepted while its timestamp is
 * within 5 minutes of now either way, so an identical replay can come up to 10 minutes after the
 * first; Slack retries an Events API delivery at once, after 1 minute and after 5 minutes, each with
 * a new timestamp. 15 minutes outlasts both, and bounds the table to a quarter hour of traffic.
 * https://docs.slack.dev/apis/events-api/#retries
 */
export const DELIVERY_MEMORY_MS = 15 * 60_000;

/** Pages shown in Slack: what fits in a message, and what is worth scrolling in Home. */
export const QUERY_LIMITS = { pending: 50, history: 100, recent: 15 };

/** What the service needs. */
export interface SlackServiceDeps {
  store: Store;
  /** The app's deliveries, DMs and in-flight counts (src/store/slack.ts). */
  ledger: Pick<SlackLedger, "takeDelivery" | "inFlightOf">;
  queue: Pick<JobQueue, "enqueue">;
  /** Runs `fn` in one database transaction (store writes and enqueues commit together). */
  transaction: <T>(fn: () => Promise<T> | T) => Promise<T>;
  /**
   * Runs `fn` in a transaction shared with the other writes of this turn of the event loop (group
   * commit, src/store/group-commit.ts); resolves once committed. For the slash command's write.
   */
  groupTransaction: <T>(fn: () => Promise<T> | T) => Promise<T>;
  /** Enqueue the check of a new request (the worker's `enqueueCheck`); runs inside `transaction`. */
  enqueueCheck: (request: RequestRecord, now: Date) => Promise<unknown>;
  approvers: Approvers;
  /**
   * How long a listener waits for Slack to say who the approvers are (default
   * `APPROVER_ACK_BUDGET_MS`): these answers are part of an ack that Slack wants within 3 s.
   */
  approverWithinMs?: number;
  policy: Policy;
  now: () => Date;
  metrics: Metrics;
  /** The re-check records of `watch` (src/store/watch.ts), for status answers and Home. */
  watch?: Pick<WatchStore, "get" | "flagged">;
}

/** Why nothing changed, with the decision in force when the request was already decided. */
export type Refusal = { ok: false; code: RefusalCode; decision?: DecisionRecord | null };

/** The outcome of a decision attempt: written, or refused with the reason (nothing changed). */
export type DecideOutcome = { ok: true; decision: DecisionRecord; request: RequestRecord } | Refusal;

/** A new check, as typed after the command. */
export interface CheckInput {
  reference: ImageReference;
  reason: string | null;
  userId: string;
  channelId: string | null;
  responseUrl: string | null;
}

/**
 * The outcome of a new check: recorded, or refused because the requester already has `inFlight`
 * checks queued or running and the policy allows `limit` (nothing written).
 */
export type SubmitOutcome =
  | { ok: true; request: RequestRecord }
  | { ok: false; code: "IN_FLIGHT_LIMIT"; inFlight: number; limit: number };

/** The app's operations. */
export interface SlackService {
  /**
   * Whether a signed delivery is new (to handle) or one already taken (a replay, or a Slack retry
   * of a delivery we took): see `SlackLedger.takeDelivery`. Durable and shared through the store;
   * written with the other writes of this turn (group commit), resolves once committed.
   */
  takeDelivery(delivery: SlackDelivery): Promise<boolean>;
  /**
   * Record the request and enqueue its check, in one transaction; resolves once committed. Refused,
   * writing nothing, when the requester already has the policy's `limits.perUserInFlight` checks
   * queued or running (counted in the store, in the same transaction, so two commands at once
   * cannot both slip under the limit, and other processes' requests count too).
   */
  submitCheck(input: CheckInput): Promise<SubmitOutcome>;
  /**
   * Whether `userId` may decide `requestId` now (before opening the reject modal). Refused with
   * APPROVERS_UNAVAILABLE when Slack cannot say whether they are an approver within `approverWithinMs`.
   */
  canDecide(requestId: string, userId: string): Promise<{ ok: true; request: RequestRecord } | Refusal>;
  /**
   * Decide: the decision and the jobs that update the IT message and tell the requester, in one
   * transaction. Refused with APPROVERS_UNAVAILABLE (nothing written) when Slack cannot say whether
   * the user is an approver within `approverWithinMs`.
   */
  decide(input: {
    requestId: string;
    userId: string;
    decision: "approved" | "rejected";
    reason: string | null;
  }): Promise<DecideOutcome>;
  /**
   * Whether `userId` may ask IT for a decision on `requestId` (opening the reason modal): their own
   * request, pending, or settled by a standing rejection of its digest (asking again reopens it).
   */
  canAskApproval(requestId: string, userId: string): Promise<{ ok: true; request: RequestRecord } | Refusal>;
  /**
   * The requester's reason (from the modal), and the job that routes the request to IT and tells
   * them. A request settled by a standing rejection is reopened with it (IT decides again).
   */
  addReason(requestId: string, userId: string, reason: string): Promise<{ ok: true } | Refusal>;
  /** Whether `userId` may decide; null when Slack cannot say right now (or not within `approverWithinMs`). */
  isApprover(userId: string): Promise<boolean | null>;
  /** Queue a Home tab refresh for a user (with a one-line notice on top, already escaped). */
  refreshHome(userId: string, notice?: string): Promise<void>;
  status(reference: ImageReference): Promise<StatusAnswer>;
  history(repository: string): Promise<Page<DecisionRecord>>;
  pending(): Promise<Page<RequestRecord>>;
  recent(): Promise<Page<DecisionListItem>>;
  /** Approvals that a re-check (`watch`) found changes in and that still stand, newest first. */
  needsAnotherLook(): Promise<NeedsAnotherLook[]>;
}

/** An approval that `watch` flagged: it stands, but IT should look again. */
export interface NeedsAnotherLook {
  decision: DecisionRecord;
  changes: { id: string; severity: string; title: string }[];
  lastCheckedAt: string | null;
}

/** The service over the store and the queue. */
export function createSlackService(deps: SlackServiceDeps): SlackService {
  const { store, queue, transaction, now } = deps;
  const withinMs = deps.approverWithinMs ?? APPROVER_ACK_BUDGET_MS;
  /** The approver check of the ack path: bounded, and never a guess. */
  const isApprover = (userId: string) => deps.approvers.isApprover(userId, withinMs);

  /** Whether `userId` is an approver, or the refusal to give when Slack cannot say in time. */
  async function approverOrRefusal(userId: string): Promise<boolean | Refusal> {
    try {
      return await isApprover(userId);
    } catch (err) {
      if (isCoded(err, "APPROVERS_UNAVAILABLE")) return { ok: false, code: "APPROVERS_UNAVAILABLE" };
      throw err;
    }
  }

  /** A refusal; an ALREADY_DECIDED one carries the request's decision, to say who decided and when. */
  async function refusal(code: RefusalCode, request: RequestRecord | null, at: Date): Promise<Refusal> {
    if (code !== "ALREADY_DECIDED" || !request) return { ok: false, code };
    return { ok: false, code, decision: await decisionOf(store, request, at) };
  }

  /** See `SlackService.canAskApproval`. */
  async function canAskApproval(
    requestId: string,
    userId: string,
  ): Promise<{ ok: true; request: RequestRecord } | Refusal> {
    const at = now();
    const request = await store.getRequest(requestId, at);
    if (!request) return { ok: false, code: "NOT_FOUND" };
    if (request.requestedBy !== userId) return { ok: false, code: "NOT_REQUESTER" };
    if (request.status === "pending") return { ok: true, request };
    if (request.status === "checking" || request.status === "failed")
      return { ok: false, code: "NOT_DECIDABLE" };
    if (coveredByRejection(request, await decisionOf(store, request, at))) return { ok: true, request };
    return refusal("ALREADY_DECIDED", request, at);
  }

  return {
    takeDelivery(delivery) {
      const at = now();
      return deps.groupTransaction(() =>
        deps.ledger.takeDelivery(delivery, at, new Date(at.getTime() + DELIVERY_MEMORY_MS)),
      );
    },

    submitCheck(input) {
      const at = now();
      const ref = input.reference;
      return deps.groupTransaction(async (): Promise<SubmitOutcome> => {
        const limit = deps.policy.limits.perUserInFlight;
        const inFlight = await deps.ledger.inFlightOf(input.userId);
        if (inFlight >= limit) return { ok: false, code: "IN_FLIGHT_LIMIT", inFlight, limit };
        const request = await store.createRequest(
          {
            reference: ref.original,
            repository: repositoryPath(ref),
            tag: effectiveTag(ref) ?? null,
            digest: ref.digest ?? null,
            requestedBy: input.userId,
            source: "slack",
            channel: input.channelId,
            reason: input.reason,
            responseUrl: input.responseUrl,
          },
          at,
        );
        await deps.enqueueCheck(request, at);
        return { ok: true, request };
      });
    },

    async canDecide(requestId, userId) {
      const at = now();
      const request = await store.getRequest(requestId, at);
      if (!request) return { ok: false, code: "NOT_FOUND" };
      if (request.status === "approved" || request.status === "rejected" || request.status === "expired")
        return refusal("ALREADY_DECIDED", request, at);
      if (request.status !== "pending") return { ok: false, code: "NOT_DECIDABLE" };
      if (isOwnRequest(request, userId)) return { ok: false, code: "SELF_DECISION" };
      const approver = await approverOrRefusal(userId);
      if (approver !== true) return approver === false ? { ok: false, code: "NOT_APPROVER" } : approver;
      return { ok: true, request };
    },

    async decide(input) {
      const approver = await approverOrRefusal(input.userId);
      if (typeof approver !== "boolean") return approver;
      const at = now();
      try {
        const out = await transaction(async () => {
          const decision = await store.decide({
            requestId: input.requestId,
            decision: input.decision,
            decidedBy: input.userId,
            isApprover: approver,
            reason: input.reason,
            now: at,
            expireDays: deps.policy.approvals.expireDays,
          });
          await enqueueRequestJob(deps, JOB.itDecided, input.requestId, at);
          await enqueueRequestJob(deps, JOB.notify, input.requestId, at);
          return decision;
        });
        deps.metrics.inc("image_check_decisions_total", { decision: out.decision });
        return { ok: true, decision: out, request: (await store.getRequest(input.requestId, at))! };
      } catch (err) {
        if (isCoded(err, "NOT_FOUND", "ALREADY_DECIDED", "NOT_DECIDABLE", "SELF_DECISION", "NOT_APPROVER"))
          return refusal(err.code, await store.getRequest(input.requestId, at), at);
        throw err;
      }
    },

    canAskApproval,

    async addReason(requestId, userId, reason) {
      const asked = await canAskApproval(requestId, userId);
      if (!asked.ok) return asked;
      const at = now();
      try {
        await transaction(async () => {
          if (asked.request.status === "pending") await store.setReason(requestId, reason, at);
          else await store.reopenCovered(requestId, userId, reason, at);
          await enqueueRequestJob(deps, JOB.result, requestId, at);
        });
      } catch (err) {
        // Settled between the check above and this write (an approver was quicker).
        if (isCoded(err, "NOT_DECIDABLE", "ALREADY_DECIDED"))
          return refusal("ALREADY_DECIDED", await store.getRequest(requestId, at), at);
        throw err;
      }
      return { ok: true };
    },

    isApprover: (userId) => isApprover(userId).catch(() => null),

    async refreshHome(userId, notice) {
      await queue.enqueue(
        {
          kind: JOB.home,
          payload: notice ? { userId, notice } : { userId },
          idempotencyKey: notice ? null : `${JOB.home}:${userId}`,
        },
        now(),
      );
    },

    async status(ref) {
      const answer = await store.statusOf(
        repositoryPath(ref),
        ref.digest ? { digest: ref.digest } : { tag: effectiveTag(ref) },
        now(),
      );
      const row = answer.decision && deps.watch ? await deps.watch.get(answer.decision.id) : null;
      return row ? { ...answer, watch: { lastCheckedAt: row.lastCheckedAt, changes: row.changes } } : answer;
    },
    async needsAnotherLook() {
      const at = now();
      const out: NeedsAnotherLook[] = [];
      for (const f of (await deps.watch?.flagged(QUERY_LIMITS.recent)) ?? []) {
        const decision = await store.getDecision(f.decisionId, at);
        if (decision?.status === "approved")
          out.push({ decision, changes: f.changes, lastCheckedAt: f.lastCheckedAt });
      }
      return out;
    },
    history: (repository) => store.history(repository, { limit: QUERY_LIMITS.history }, now()),
    pending: () => store.pendingRequests({ limit: QUERY_LIMITS.pending }),
    recent: () => store.listDecisions({ limit: QUERY_LIMITS.recent }, now()),
  };
}
