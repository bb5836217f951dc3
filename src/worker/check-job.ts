/**
 * The `check` job: run the app's CheckRunner for a reference, store the report on every request
 * waiting on the job, remember what the tag resolved to, and approve a `pass` when the policy says
 * so. Written to be re-run safely: a worker killed at any point leaves the job to run again, and
 * the second run neither writes a second report nor decides twice.
 *
 * Sharing: identical requests (same normalized reference, platform, source and policy version)
 * enqueued while a check job is queued or running join that job (its idempotency key) instead of
 * starting another.
 * The job frees its key in the same transaction that stores its results, so a request joins either
 * before (and gets the report) or after (and starts a fresh job), never in between.
 *
 * Settling: `store.settle` applies the approval rules (src/store/decisions.ts): a request whose
 * digest has a person's decision in force, under any name, takes it instead of waiting in IT's
 * pending list (unless its requester made it); a `pass` is approved by the policy when it says so
 * and no rejection stands. Whatever is left waits for IT.
 *
 * Reuse: a reference pinned by digest reuses a report for that digest under the same policy
 * version checked within `reuseReportMinutes`. A tag reference must be resolved first, which
 * happens inside the runner: the runner may call `store.freshReport(digest, policyVersion, ...)`
 * after resolving the tag to skip the rest of the work.
 */

import { respelledReport } from "../checks/build-report.js";
import type { Report } from "../checks/report.js";
import { isCoded } from "../errors.js";
import { canonicalHost } from "../reference/host.js";
import { effectiveTag, formatReference, parseReference } from "../reference/parse.js";
import type { RequestRecord } from "../store/api.js";
import type { OpenedStore } from "../store/service.js";
import { tagObservationOf } from "../store/tags.js";
import { openQueue } from "./queue.js";
import type { CheckJobPayload, CheckRunner, JobContext, JobHandlerSpec, JobRecord } from "./types.js";

/** The job kind of a check. */
export const CHECK_JOB = "check";

/** What the check job needs. */
export interface CheckJobDeps {
  store: OpenedStore;
  runner: CheckRunner;
  /** Version (hash) of the policy in force; part of the sharing key and of report reuse. */
  policyVersion: string;
  /** Policy `approvals.autoApprovePass`: a `pass` is approved as `decidedBy: "policy"`. */
  autoApprovePass: boolean;
  /** Policy `approvals.expireDays`. */
  expireDays: number;
  /** Policy `approvals.reuseReportMinutes`; 0 disables reuse. */
  reuseReportMinutes?: number;
  now: () => Date;
  /**
   * Called after the results are stored (and after each re-run, so make it idempotent: e.g. look
   * at `request.itMessage` before posting). Enqueue follow-up jobs (`slack.post`) here rather than
   * calling Slack directly, so a Slack outage does not re-run the check.
   */
  afterCheck?: (outcome: CheckOutcomeOfJob, ctx: JobContext) => Promise<void> | void;
  /** Called when the job failed for good, with the requests it failed. Same idempotency rule. */
  afterFailed?: (requests: RequestRecord[], error: { code: string; message: string }) => Promise<void> | void;
}

/** What a finished check job hands to `afterCheck`. */
export interface CheckOutcomeOfJob {
  /** Every request that waited on the job, as they stand now (pending, approved by policy, failed). */
  requests: RequestRecord[];
  report: Report | null;
  /** True when a fresh stored report was reused instead of running the check. */
  reused: boolean;
}

/** The result stored on the job. */
export interface CheckJobResult {
  requestIds: string[];
  reportId: string | null;
  reused: boolean;
}

/**
 * The sharing key of a check: identical work while one is queued or running shares the job. The
 * reference is keyed in its canonical form (`registry/repository:tag@digest`, a bare name meaning
 * `latest`), so `nginx`, `docker.io/library/nginx` and `docker.io/library/nginx:latest` share one check.
 */
export function checkIdempotencyKey(
  input: Omit<CheckJobPayload, "requestId">,
  policyVersion: string,
): string {
  return JSON.stringify([
    "check",
    canonicalReference(input.reference),
    input.platform ?? null,
    input.source ?? DEFAULT_SOURCE,
    policyVersion,
  ]);
}

/** The source a check uses when the request names none (as the runner does). */
const DEFAULT_SOURCE = "registry";

/**
 * `registry/repository[:tag][@digest]` with the registry in canonical form (src/reference/host.ts)
 * and the tag a pull would use; the text itself if it does not parse.
 */
function canonicalReference(text: string): string {
  try {
    const parsed = parseReference(text);
    const ref = { ...parsed, registry: canonicalHost(parsed.registry) };
    const tag = effectiveTag(ref);
    return formatReference(tag ? { ...ref, tag } : ref);
  } catch {
    // Not a reference (the check will fail on it): only the same text shares its job.
    return text;
  }
}

/**
 * Enqueue the check of a request (created with `store.createRequest`), or join the identical check
 * already queued or running. One transaction: the job and the link of the request to it.
 */
export function enqueueCheck(
  store: OpenedStore,
  input: CheckJobPayload & { policyVersion: string; maxAttempts?: number },
  now: Date,
): Promise<{ job: JobRecord; created: boolean }> {
  const payload: CheckJobPayload = { requestId: input.requestId, reference: input.reference };
  if (input.platform) payload.platform = input.platform;
  if (input.source) payload.source = input.source;
  return enqueueCheckTx(store)(payload, input, now);
}

type EnqueueCheckTx = (
  payload: CheckJobPayload,
  input: { policyVersion: string; maxAttempts?: number },
  now: Date,
) => Promise<{ job: JobRecord; created: boolean }>;

const enqueueCheckTxs = new WeakMap<OpenedStore, EnqueueCheckTx>();

/** The transaction of `enqueueCheck`, its queue opened once per store (it runs for every slash command). */
function enqueueCheckTx(store: OpenedStore): EnqueueCheckTx {
  let fn = enqueueCheckTxs.get(store);
  if (!fn) {
    const queue = openQueue(store);
    fn = (payload, input, now) =>
      store.transaction(async () => {
        const out = await queue.enqueue(
          {
            kind: CHECK_JOB,
            payload,
            idempotencyKey: checkIdempotencyKey(payload, input.policyVersion),
            maxAttempts: input.maxAttempts,
          },
          now,
        );
        await store.linkJob(payload.requestId, out.job.id);
        return out;
      });
    enqueueCheckTxs.set(store, fn);
  }
  return fn;
}

/** Time the worker gives a check job beyond the check's own deadline: storing results and follow-ups. */
const CHECK_JOB_MARGIN_MS = 30_000;

/**
 * The worker's job timeout for check jobs: never shorter than the check's own deadline (policy
 * `limits.checkSeconds`) plus a margin, so a long deadline ends as DEADLINE (final) rather than as
 * the worker's TIMEOUT (retried).
 */
export function checkJobTimeoutMs(checkSeconds: number, workerDefaultMs: number): number {
  return Math.max(workerDefaultMs, checkSeconds * 1000 + CHECK_JOB_MARGIN_MS);
}

/** The handler of `check` jobs, for `startWorker({ handlers: { check: checkJobHandler(deps) } })`. */
export function checkJobHandler(deps: CheckJobDeps): JobHandlerSpec {
  const { store } = deps;
  const queue = openQueue(store);

  /** The requests of the job: those linked to it, and the one that started it. */
  const waiting = async (jobId: number, firstId: string): Promise<RequestRecord[]> => {
    const linked = await store.requestsOfJob(jobId, deps.now());
    if (linked.some((r) => r.id === firstId)) return linked;
    const first = await store.getRequest(firstId, deps.now());
    return first ? [first, ...linked] : linked;
  };

  return {
    async run(payload: unknown, ctx: JobContext): Promise<CheckJobResult> {
      const p = payload as CheckJobPayload;
      const jobId = ctx.job.id;
      let report: Report | null = null;
      let reused = false;
      if ((await waiting(jobId, p.requestId)).some((r) => r.status === "checking")) {
        report = await reusableReport(p);
        reused = report !== null;
        if (!report) {
          const input: Parameters<CheckRunner>[0] = {
            reference: p.reference,
            lastAttempt: ctx.attempt >= ctx.maxAttempts,
          };
          if (p.platform) input.platform = p.platform;
          if (p.source) input.source = p.source;
          report = await deps.runner(input, ctx.signal);
        }
        // The worker gave up on this attempt (timeout, lost lease, shutdown): its results must not land.
        ctx.signal.throwIfAborted();
        const got = report;
        await store.transaction(async () => {
          const at = deps.now();
          // The key first: from here on an identical request starts a new job, and one that joined
          // this job before (another replica's, still committing) is waited for and read below.
          await queue.releaseKey(jobId);
          // Each request sees the report under its own spelling of the reference (a shared or
          // reused check ran under another one).
          for (const r of await waiting(jobId, p.requestId))
            if (r.status === "checking")
              await store.attachReport(r.id, respelledReport(got, r.reference), at);
          const seen = reused ? null : tagObservationOf(got);
          if (seen) await store.recordTagObservation(seen.repository, seen.tag, seen.digest, at);
        });
      }

      // Follow-ups, idempotent: a re-run after a crash finds the report stored and continues here.
      for (const r of await waiting(jobId, p.requestId)) await settle(r);
      const requests = await waiting(jobId, p.requestId);
      const reportId = requests.find((r) => r.reportId)?.reportId ?? null;
      if (!report && reportId) report = await store.getReport(reportId);
      await deps.afterCheck?.({ requests, report, reused }, ctx);
      return { requestIds: requests.map((r) => r.id), reportId, reused };
    },

    async onFailed(
      payload: unknown,
      error: { code: string; message: string },
      job: JobRecord,
    ): Promise<void> {
      const p = payload as CheckJobPayload;
      const failed = await store.transaction(async () => {
        const at = deps.now();
        // The key first, as when a check finishes: no request can join the job after this reads them.
        await queue.releaseKey(job.id);
        const out: RequestRecord[] = [];
        for (const r of await waiting(job.id, p.requestId))
          out.push(r.status === "checking" ? await store.failRequest(r.id, error, at) : r);
        return out;
      });
      await deps.afterFailed?.(failed, error);
    },
  };

  /** Settle a checked, pending request by the approval rules (see `Store.settle`). */
  async function settle(r: RequestRecord): Promise<void> {
    if (r.status !== "pending" || !r.digest) return;
    try {
      await store.settle(r.id, deps.now(), {
        autoApprovePass: deps.autoApprovePass,
        expireDays: deps.expireDays,
      });
    } catch (err) {
      // Decided meanwhile (an approver was quicker, or another process settled it): nothing to do.
      if (!isCoded(err, "ALREADY_DECIDED", "NOT_DECIDABLE")) throw err;
    }
  }

  async function reusableReport(p: CheckJobPayload): Promise<Report | null> {
    const minutes = deps.reuseReportMinutes ?? 0;
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(p.reference)?.[1];
    if (minutes <= 0 || !digest) return null;
    const report = await store.freshReport(digest, deps.policyVersion, deps.now(), minutes * 60_000);
    if (!report || (p.platform && report.image.platform !== p.platform)) return null;
    // Only a report about this very image under this very name: the publisher, the tag findings
    // and the trusted globs all depend on the name. The spelling is the request's own (`respelledReport`).
    if (canonicalReference(report.reference) !== canonicalReference(p.reference)) return null;
    return report;
  }
}
