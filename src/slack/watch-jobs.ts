/**
 * The Slack side of `watch` (src/worker/watch.ts). The re-check job hands its events to
 * `watchNotifier`, inside its transaction; the notifier only enqueues jobs. The jobs post:
 * - `slack.it-request` (the existing approval post, with Approve / Reject) for the request a
 *   revocation opened;
 * - `slack.watch-thread`: a reply in the thread of the approval's IT message (when the approval
 *   never went to IT, a policy approval of a pass: in the thread of the new request's message
 *   after a revocation, else a message of its own in the IT channel);
 * - `slack.watch-dm`: the requester's DM;
 * - `slack.audit`: serve's scheduled audit of what runs (src/worker/audit.ts), to the IT channel.
 * Payloads carry what to say, so a retried job says the same thing whatever happened since.
 */
import { z } from "zod";
import { CodedError } from "../errors.js";
import type { Store } from "../store/api.js";
import { auditReportSchema } from "../worker/audit.js";
import type { JobHandlerSpec, JobQueue } from "../worker/types.js";
import type { WatchEvent, WatchNotifier } from "../worker/watch.js";
import type { SlackApi } from "./api.js";
import { JOB } from "./ids.js";
import { enqueueRequestJob } from "./jobs.js";
import { renderAuditSummary } from "./render/audit.js";
import { renderWatchDm, renderWatchThread, type WatchNotice } from "./render/watch.js";

/** The payload of both watch jobs, shared by the notifier (producer) and the handlers. */
export const watchNoticePayloadSchema = z
  .object({
    event: z.enum(["changed", "revoked", "expiring"]),
    decisionId: z.string(),
    /** The approval's request: its IT message is the thread, its requester gets the DM. */
    requestId: z.string(),
    reopenedRequestId: z.string().nullable(),
    changes: z.array(z.object({ id: z.string(), severity: z.string(), title: z.string() })),
  })
  .strict();
/** The payload of a watch job. */
export type WatchNoticePayload = z.infer<typeof watchNoticePayloadSchema>;

/** The new request's IT message is not posted yet: the thread reply waits for it (a temporary code, retried). */
export class WatchPostError extends CodedError<"SLACK_UNAVAILABLE" | "BAD_PAYLOAD"> {}

/** Slack user ids (`U…`, `W…`) can be sent a DM; a CLI user name cannot. */
const SLACK_USER = /^[UW][A-Z0-9]{2,}$/;

/** The notifier the re-check job calls: enqueues the posts (never calls Slack itself). */
export function watchNotifier(queue: Pick<JobQueue, "enqueue">): WatchNotifier {
  return {
    async notify(event: WatchEvent, at: Date) {
      const payload: WatchNoticePayload = {
        event: event.kind,
        decisionId: event.decision.id,
        requestId: event.request.id,
        reopenedRequestId: event.kind === "revoked" ? event.reopened.id : null,
        changes:
          event.kind === "expiring"
            ? []
            : event.changes.map(({ id, severity, title }) => ({ id, severity, title })),
      };
      if (event.kind === "revoked") await enqueueRequestJob({ queue }, JOB.itRequest, event.reopened.id, at);
      const key = `${event.decision.id}:${event.kind}:${at.toISOString()}`;
      await queue.enqueue(
        { kind: JOB.watchThread, payload, idempotencyKey: `${JOB.watchThread}:${key}` },
        at,
      );
      if (SLACK_USER.test(event.request.requestedBy))
        await queue.enqueue({ kind: JOB.watchDm, payload, idempotencyKey: `${JOB.watchDm}:${key}` }, at);
    },
  };
}

/** What the watch jobs need. */
export interface WatchJobDeps {
  store: Store;
  api: SlackApi;
  itChannel: string;
  now: () => Date;
}

/** Handlers of the watch jobs, for the Slack worker. */
export function watchJobHandlers(deps: WatchJobDeps): Record<string, JobHandlerSpec> {
  const { store, api, now } = deps;

  async function load(raw: unknown): Promise<{ p: WatchNoticePayload; notice: WatchNotice } | null> {
    const parsed = watchNoticePayloadSchema.safeParse(raw);
    if (!parsed.success)
      throw new WatchPostError("BAD_PAYLOAD", `not a watch notice: ${parsed.error.message}`);
    const p = parsed.data;
    const at = now();
    const request = await store.getRequest(p.requestId, at);
    const decision = await store.getDecision(p.decisionId, at);
    if (!request || !decision) return null;
    return {
      p,
      notice: {
        event: p.event,
        reference: request.reference,
        digest: decision.digest,
        requestedBy: request.requestedBy,
        changes: p.changes,
        expiresAt: decision.expiresAt,
        reopenedRequestId: p.reopenedRequestId,
      },
    };
  }

  return {
    [JOB.watchThread]: {
      async run(raw) {
        const loaded = await load(raw);
        if (!loaded) return { skipped: "no such request" };
        const { p, notice } = loaded;
        const at = now();
        let thread = (await store.getRequest(p.requestId, at))?.itMessage ?? null;
        if (!thread && p.reopenedRequestId) {
          thread = (await store.getRequest(p.reopenedRequestId, at))?.itMessage ?? null;
          if (!thread)
            throw new WatchPostError("SLACK_UNAVAILABLE", "the reopened request is not posted to IT yet");
        }
        const message = renderWatchThread(notice);
        const posted = thread
          ? await api.postMessage(thread.channel, message, undefined, thread.ts)
          : await api.postMessage(deps.itChannel, message);
        return { posted: posted.ts, threaded: Boolean(thread) };
      },
    },
    [JOB.audit]: {
      async run(raw) {
        const parsed = auditReportSchema.safeParse(raw);
        if (!parsed.success)
          throw new WatchPostError("BAD_PAYLOAD", `not an audit report: ${parsed.error.message}`);
        // A clean round after a posted one: the schedule's marker (src/worker/audit.ts), not news.
        if (parsed.data.containers.length === 0) return { skipped: "clean" };
        const posted = await api.postMessage(deps.itChannel, renderAuditSummary(parsed.data));
        return { posted: posted.ts };
      },
    },
    [JOB.watchDm]: {
      async run(raw) {
        const loaded = await load(raw);
        if (!loaded) return { skipped: "no such request" };
        const posted = await api.postMessage(loaded.notice.requestedBy, renderWatchDm(loaded.notice));
        return { posted: posted.ts };
      },
    },
  };
}
