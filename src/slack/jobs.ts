/**
 * The worker jobs that talk to Slack. Listeners never post results themselves: they write, enqueue
 * one of these, and ack, so a Slack outage or a 429 delays a message instead of losing it (the
 * worker retries, and reschedules a 429 after its Retry-After). Every handler re-reads the store
 * and is safe to run twice.
 */
import type { Report } from "../checks/report.js";
import { isCoded } from "../errors.js";
import type { DecisionRecord, RequestRecord, Store } from "../store/api.js";
import { isPersonDecision } from "../store/decisions.js";
import type { SlackLedger } from "../store/slack.js";
import type { JobContext, JobHandlerSpec } from "../worker/types.js";
import { type MessageMetadata, type SlackApi, SlackApiError } from "./api.js";
import type { Approvers } from "./approvers.js";
import { JOB, METADATA } from "./ids.js";
import type { Metrics } from "./metrics.js";
import type { Message } from "./render/blocks.js";
import { renderHome } from "./render/home.js";
import { type ReportOutcome, renderCheckFailed, renderReport } from "./render/report.js";
import { renderDecisionDm, renderItDecided, renderItRequest } from "./render/request.js";
import type { SlackService } from "./service.js";

/** What the Slack jobs need. */
export interface SlackJobDeps {
  store: Store;
  /** The decision DMs already sent (src/store/slack.ts). */
  ledger: Pick<SlackLedger, "dmSent" | "recordDm">;
  api: SlackApi;
  service: SlackService;
  approvers: Approvers;
  queue: {
    enqueue(
      input: { kind: string; payload: unknown; idempotencyKey?: string | null },
      now: Date,
    ): Promise<unknown>;
  };
  itChannel: string;
  now: () => Date;
  metrics: Metrics;
  log: (level: "warn" | "error", message: string) => void;
}

/**
 * How many of the IT channel's newest messages a retried approval post looks through for its earlier
 * self: a retry comes within minutes, and a busy IT channel sees a few dozen messages in that time.
 */
export const IT_HISTORY_LOOKBACK = 50;

/**
 * How many of a requester's newest DMs from the app a retried decision DM looks through: the app
 * writes to one person a few messages per request, and a retry comes within minutes.
 */
export const DM_HISTORY_LOOKBACK = 20;

/** Payload of the per-request jobs. */
interface RequestPayload {
  requestId: string;
}

/** Enqueue a per-request Slack job once (joins a queued or running one). */
export function enqueueRequestJob(
  deps: Pick<SlackJobDeps, "queue">,
  kind: string,
  requestId: string,
  now: Date,
): Promise<void> {
  return deps.queue
    .enqueue({ kind, payload: { requestId }, idempotencyKey: `${kind}:${requestId}` }, now)
    .then(() => undefined);
}

/**
 * The decision `request` stands on (not merely the newest for its digest): its own, or the earlier
 * one that covered it. Null while undecided.
 */
export async function decisionOf(
  store: Pick<Store, "getDecision">,
  request: RequestRecord,
  now: Date,
): Promise<DecisionRecord | null> {
  return request.decisionId ? store.getDecision(request.decisionId, now) : null;
}

/** Handlers of every `slack.*` job, for `startWorker({ handlers })`. */
export function slackJobHandlers(deps: SlackJobDeps): Record<string, JobHandlerSpec> {
  const { store, api, now } = deps;

  const load = async (
    payload: unknown,
  ): Promise<{ request: RequestRecord; report: Report | null } | null> => {
    const request = await store.getRequest((payload as RequestPayload).requestId, now());
    if (!request) return null;
    return { request, report: request.reportId ? await store.getReport(request.reportId) : null };
  };

  /** Answer the requester: replace the "checking…" message, else ephemeral in the channel, else a DM. */
  async function answer(request: RequestRecord, message: Message): Promise<string> {
    if (request.responseUrl) {
      try {
        await api.respond(request.responseUrl, { ...message, replaceOriginal: true });
        return "response_url";
      } catch (err) {
        if (!(err instanceof SlackApiError) || (err.code !== "EXPIRED_URL" && err.code !== "SLACK_ERROR"))
          throw err;
      }
    }
    if (request.channel) {
      try {
        await api.postEphemeral(request.channel, request.requestedBy, message);
        return "ephemeral";
      } catch (err) {
        // The bot may not be in that channel (not_in_channel, channel_not_found): fall back to a DM.
        if (!(err instanceof SlackApiError) || err.code !== "SLACK_ERROR") throw err;
      }
    }
    await api.postMessage(request.requestedBy, message);
    return "dm";
  }

  /** What happened after the check, deciding (idempotently) whether IT must see it. */
  async function outcomeOf(checked: RequestRecord, at: Date): Promise<ReportOutcome | null> {
    if (checked.status === "failed")
      return { kind: "failed", error: checked.error ?? { code: "FAILED", message: "the check failed" } };
    // A person may have decided the digest since the check ran (another request for it, under any
    // name): the approval rules settle this one on it where they allow (src/store/decisions.ts).
    const request = await settled(checked, at);
    const mine = await decisionOf(store, request, at);
    if (mine && mine.requestId !== request.id)
      return mine.decision === "approved"
        ? { kind: "already-approved", decision: mine }
        : { kind: "already-rejected", requestId: request.id, decision: mine };
    if (mine)
      return isPersonDecision(mine)
        ? { kind: "decided", decision: mine }
        : { kind: "auto-approved", decision: mine };
    if (request.status !== "pending") return null;
    const previous = request.digest
      ? await store.currentDecision(request.repository, request.digest, at)
      : null;
    if (!request.reason) return { kind: "needs-reason", requestId: request.id, previous };
    await enqueueRequestJob(deps, JOB.itRequest, request.id, at);
    return { kind: "sent-to-it", requestId: request.id, previous };
  }

  /** `request` after `Store.settle` (unchanged when it cannot be settled now: decided meanwhile). */
  async function settled(request: RequestRecord, at: Date): Promise<RequestRecord> {
    if (request.status !== "pending") return request;
    try {
      return await store.settle(request.id, at);
    } catch (err) {
      if (isCoded(err, "ALREADY_DECIDED", "NOT_DECIDABLE"))
        return (await store.getRequest(request.id, at)) ?? request;
      throw err;
    }
  }

  /**
   * The post carrying `metadata` among the newest `lookback` messages of the channel `channel()`
   * names (`where`, for the log); null when not found or not readable.
   */
  async function earlierPost(
    where: string,
    channel: () => Promise<string>,
    metadata: MessageMetadata,
    lookback: number,
  ): Promise<{ channel: string; ts: string } | null> {
    try {
      return await api.findPosted(await channel(), metadata, lookback);
    } catch (err) {
      // Temporary trouble: retry the job later rather than risk a duplicate. Refused (an install
      // without the history scopes, say): post, as before this look-up existed.
      if (!(err instanceof SlackApiError) || err.code !== "SLACK_ERROR") throw err;
      deps.log("warn", `could not read ${where}'s history (${err.message}); posting again`);
      return null;
    }
  }

  /** Whether this run may follow one that posted: a retry, or a run given back at shutdown (it keeps its attempt). */
  const ranBefore = (ctx: JobContext) => ctx.attempt > 1 || ctx.job.lastError !== null;

  const onFailed = (kind: string) => (payload: unknown, error: { code: string; message: string }) => {
    deps.metrics.inc("image_check_slack_jobs_failed_total", { kind, code: error.code });
    deps.log(
      "error",
      `${kind} for ${JSON.stringify(payload)} failed for good: ${error.code} ${error.message}`,
    );
  };

  return {
    [JOB.result]: {
      async run(payload) {
        const loaded = await load(payload);
        if (!loaded) return { skipped: "no such request" };
        const { request, report } = loaded;
        const outcome = await outcomeOf(request, now());
        if (!outcome) return { skipped: request.status };
        const message =
          report !== null
            ? renderReport(report, outcome)
            : renderCheckFailed(request.reference, request.error ?? { code: "FAILED", message: "no report" });
        return { outcome: outcome.kind, via: await answer(request, message) };
      },
      onFailed: onFailed(JOB.result),
    },

    [JOB.itRequest]: {
      async run(payload, ctx) {
        const loaded = await load(payload);
        if (!loaded) return { skipped: "no such request" };
        const { request, report } = loaded;
        if (request.status !== "pending" || request.itMessage)
          return { skipped: request.itMessage ? "posted" : request.status };
        const at = now();
        const current = request.digest
          ? await store.currentDecision(request.repository, request.digest, at)
          : null;
        const metadata = { eventType: METADATA.itRequest, payload: { request_id: request.id } };
        // A retry (or a run given back at shutdown, which keeps its attempt) may follow a post whose
        // ts was never stored: find that post by its metadata rather than post twice.
        const earlier = ranBefore(ctx)
          ? await earlierPost("the IT channel", async () => deps.itChannel, metadata, IT_HISTORY_LOOKBACK)
          : null;
        const posted =
          earlier ??
          (await api.postMessage(deps.itChannel, renderItRequest(request, report, current), metadata));
        await store.setItMessage(request.id, posted.channel, posted.ts);
        // Decided while we posted (from the pending list or Home)? Then show that decision here too.
        if ((await store.getRequest(request.id, at))?.status !== "pending")
          await enqueueRequestJob(deps, JOB.itDecided, request.id, now());
        return posted;
      },
      onFailed: onFailed(JOB.itRequest),
    },

    [JOB.itDecided]: {
      async run(payload) {
        const loaded = await load(payload);
        if (!loaded) return { skipped: "no such request" };
        const { request, report } = loaded;
        const decision = await decisionOf(store, request, now());
        if (!decision || !request.itMessage) return { skipped: decision ? "no IT message" : "not decided" };
        await api.update(
          request.itMessage.channel,
          request.itMessage.ts,
          renderItDecided(request, report, decision),
        );
        return { updated: request.itMessage };
      },
      onFailed: onFailed(JOB.itDecided),
    },

    [JOB.notify]: {
      async run(payload, ctx) {
        const loaded = await load(payload);
        if (!loaded) return { skipped: "no such request" };
        const { request, report } = loaded;
        const decision = await decisionOf(store, request, now());
        if (!decision) return { skipped: "not decided" };
        // One DM per request and decision, recorded once Slack took it: a job run again (a retry,
        // a crash before the job completed, a second notify) finds the record and sends nothing.
        const sent = await deps.ledger.dmSent(request.id, decision.id);
        if (sent) return { skipped: "sent", ...sent };
        const metadata = {
          eventType: METADATA.decisionDm,
          payload: { request_id: request.id, decision_id: decision.id },
        };
        // A run after one that died while Slack was taking the DM (no record yet): find that DM by
        // its metadata rather than send it twice, as the IT post does.
        const earlier = ranBefore(ctx)
          ? await earlierPost(
              `${request.requestedBy}'s DM`,
              () => api.dmChannel(request.requestedBy),
              metadata,
              DM_HISTORY_LOOKBACK,
            )
          : null;
        const posted =
          earlier ??
          (await api.postMessage(
            request.requestedBy,
            renderDecisionDm(request, decision, report?.image.pinned),
            metadata,
          ));
        await deps.ledger.recordDm(request.id, decision.id, posted, now());
        return posted;
      },
      onFailed: onFailed(JOB.notify),
    },

    [JOB.home]: {
      async run(payload) {
        const { userId, notice } = payload as { userId: string; notice?: string };
        let isApprover = false;
        try {
          isApprover = await deps.approvers.isApprover(userId);
        } catch {
          // Slack could not list a group: show Home without buttons rather than not at all.
        }
        const pending = await deps.service.pending();
        const vulnerabilities: Record<string, NonNullable<Report["vulnerabilities"]>["counts"]> = {};
        for (const r of pending.items) {
          const counts = r.reportId
            ? (await store.getReport(r.reportId))?.vulnerabilities?.counts
            : undefined;
          if (counts) vulnerabilities[r.id] = counts;
        }
        const view = renderHome({
          userId,
          isApprover,
          pending,
          recent: await deps.service.recent(),
          vulnerabilities,
          needsAnotherLook: await deps.service.needsAnotherLook(),
          ...(notice ? { notice } : {}),
        });
        await api.publishHome(userId, view);
        return { published: userId };
      },
      onFailed: onFailed(JOB.home),
    },
  };
}
