/**
 * The whole bot in one process: the store (migrated), the workers (checks, and Slack posts) and the
 * Slack app, started in that order and stopped in reverse: stop taking requests, let running jobs
 * finish (or put them back in the queue), close the database.
 */
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { oneLine } from "../errors.js";
import type { Policy } from "../policy/schema.js";
import { type Checkpointer, startCheckpointer } from "../store/db.js";
import { openConfiguredStore } from "../store/open.js";
import { type OpenedStore, sqliteStoreOf } from "../store/service.js";
import { type AuditSchedule, auditEngine, auditReportSchema, startAuditSchedule } from "../worker/audit.js";
import { CHECK_JOB, checkJobHandler, checkJobTimeoutMs } from "../worker/check-job.js";
import { openQueue } from "../worker/queue.js";
import type { CheckRunner, JobHandler, JobHandlerSpec, Worker, WorkerEvent } from "../worker/types.js";
import { RECHECK_JOB, recheckJobHandler, startWatchScheduler, type WatchScheduler } from "../worker/watch.js";
import { startWorker, WORKER_DEFAULTS } from "../worker/worker.js";
import { type AppLogger, createSlackApp, lineLogger, type SlackApp } from "./app.js";
import { slackConfigProblems } from "./config.js";
import { JOB } from "./ids.js";
import { watchNotifier } from "./watch-jobs.js";

/** Worker sizes, named once. */
export const BOT_DEFAULTS = {
  /** Checks are network-bound and may be slow; two keep a registry (and its rate limit) comfortable. */
  checkConcurrency: 2,
  /** Slack posts are quick; four keep a burst of decisions from queueing behind each other. */
  slackConcurrency: 4,
  /** How long shutdown waits for running jobs before putting them back in the queue. */
  graceMs: 10_000,
  /** The longest a job waits for in-flight Slack requests to be acked before it starts anyway. */
  ackFirstMaxWaitMs: 250,
};

/** What the bot needs. */
export interface BotOptions {
  config: Config;
  policy: Policy;
  policyVersion: string;
  /** Builds the check runner over the opened store (the pipeline in production; crafted reports in tests). */
  runner: (store: OpenedStore) => CheckRunner;
  now?: () => Date;
  logger?: AppLogger;
  host?: string;
  /** Worker overrides (tests use short backoffs). */
  worker?: {
    checkConcurrency?: number;
    slackConcurrency?: number;
    backoff?: { baseMs?: number; maxMs?: number };
    pollMs?: number;
    /** How long a claimed job is leased (WORKER_DEFAULTS.leaseMs); tests that kill a replica shorten it. */
    leaseMs?: number;
  };
  /** How often the watch schedule runs (tests shorten it); WATCH_DEFAULTS.tickMs by default. */
  watchTickMs?: number;
}

/** A running bot. */
export interface Bot {
  port: number;
  store: OpenedStore;
  app: SlackApp;
  /** Resolves when no job is running or due (for tests). */
  idle(): Promise<void>;
  /** Graceful stop; safe to call twice. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

/**
 * Acks come first. The workers share the event loop with the HTTP server, and a job's database work
 * is synchronous. A job starts only after pending I/O was handled (setImmediate runs after the poll
 * phase), and while Slack requests are being answered (or keep arriving: `SlackApp.busy`) it waits a
 * little longer (up to `maxWaitMs`):
 * Slack gives up on an ack after 3 s, a queued check loses nothing by starting a moment later.
 */
export function ackFirst(
  spec: JobHandlerSpec,
  busy: () => boolean,
  maxWaitMs = BOT_DEFAULTS.ackFirstMaxWaitMs,
): JobHandlerSpec {
  const afterIo = () => new Promise<void>((resolve) => setImmediate(resolve));
  const run = typeof spec === "function" ? spec : spec.run;
  const yielding: JobHandler = async (payload, ctx) => {
    await afterIo();
    const until = performance.now() + maxWaitMs;
    while (busy() && performance.now() < until && !ctx.signal.aborted)
      await new Promise((r) => setTimeout(r, 2));
    return run(payload, ctx);
  };
  return typeof spec === "function" ? yielding : { ...spec, run: yielding };
}

/** Open the store, start the workers and the app. Throws ConfigError before touching anything on bad configuration. */
export async function startBot(opts: BotOptions): Promise<Bot> {
  const problems = slackConfigProblems(opts.config);
  if (problems.length) throw new ConfigError(problems);
  const now = opts.now ?? (() => new Date());
  const log = opts.logger ?? lineLogger((line) => process.stderr.write(line));
  const store = await openConfiguredStore(opts.config);
  let workers: Worker[] = [];
  let checkpointer: Checkpointer | undefined;
  let scheduler: WatchScheduler | undefined;
  let audits: AuditSchedule | null = null;
  let running = false;
  let app: SlackApp;
  try {
    app = createSlackApp({
      config: opts.config,
      store,
      policy: opts.policy,
      policyVersion: opts.policyVersion,
      now,
      logger: log,
      host: opts.host,
      workerRunning: () => running,
    });
    const onEvent = (e: WorkerEvent) => {
      if (e.type === "failed")
        log.warn(`job ${e.job.kind} #${e.job.id} failed: ${e.error.code} ${e.error.message}`);
      else if (e.type === "retry")
        log.info(`job ${e.job.kind} #${e.job.id} retries at ${e.availableAt}: ${e.error.code}`);
      else if (e.type === "error") log.error(`worker: ${oneLine(e.error)}`);
    };
    const busy = () => app.busy();
    const common = {
      store,
      now,
      onEvent,
      backoff: opts.worker?.backoff,
      pollMs: opts.worker?.pollMs,
      leaseMs: opts.worker?.leaseMs,
    };
    const runner = opts.runner(store);
    const checks = checkJobHandler({
      store,
      runner,
      policyVersion: opts.policyVersion,
      autoApprovePass: opts.policy.approvals.autoApprovePass,
      expireDays: opts.policy.approvals.expireDays,
      reuseReportMinutes: opts.policy.approvals.reuseReportMinutes,
      now,
      afterCheck: (outcome) => app.afterCheck(outcome),
      afterFailed: (requests) => app.afterFailed(requests),
    });
    // Re-checks of approvals (watch) share the check worker's pool: they are checks, bounded alike.
    const watch = store.watch();
    const rechecks = recheckJobHandler({
      store,
      watch,
      runner,
      policy: opts.policy,
      now,
      notifier: watchNotifier(openQueue(store)),
    });
    workers = [
      startWorker({
        ...common,
        handlers: { [CHECK_JOB]: ackFirst(checks, busy), [RECHECK_JOB]: ackFirst(rechecks, busy) },
        concurrency: opts.worker?.checkConcurrency ?? BOT_DEFAULTS.checkConcurrency,
        jobTimeoutMs: checkJobTimeoutMs(opts.policy.limits.checkSeconds, WORKER_DEFAULTS.jobTimeoutMs),
      }),
      startWorker({
        ...common,
        handlers: Object.fromEntries(
          Object.entries(app.jobHandlers).map(([kind, spec]) => [kind, ackFirst(spec, busy)]),
        ),
        concurrency: opts.worker?.slackConcurrency ?? BOT_DEFAULTS.slackConcurrency,
      }),
    ];
    running = true;
    scheduler = startWatchScheduler({
      // Replicas sharing a PostgreSQL store take turns: one runs each scheduling pass.
      exclusive: (pass) => store.schedulerRound("watch", pass),
      watch,
      queue: openQueue(store),
      intervalHours: opts.policy.watch.intervalHours,
      now,
      ...(opts.watchTickMs ? { tickMs: opts.watchTickMs } : {}),
      onError: (err) => log.warn(`watch schedule: ${oneLine(err)}`),
    });
    audits = await startServeAudit(opts, store, log);
    // SQLite's WAL is checkpointed by the bot in quiet moments; PostgreSQL checkpoints itself.
    if (store.engine === "sqlite")
      checkpointer = startCheckpointer(sqliteStoreOf(store).db, {
        busy,
        onError: (err) => log.warn(`checkpoint: ${oneLine(err)}`),
      });
    const { port } = await app.start();
    let stopped: Promise<void> | null = null;
    return {
      port,
      store,
      app,
      async idle() {
        // A job of one worker may enqueue work for the other: idle only once neither has work due.
        const queue = openQueue(store);
        const kinds = [CHECK_JOB, RECHECK_JOB, ...Object.keys(app.jobHandlers)];
        for (;;) {
          for (const w of workers) await w.idle();
          const due = await queue.nextDueAt(kinds);
          if ((await queue.counts()).running === 0 && (due === null || Date.parse(due) > now().getTime()))
            return;
        }
      },
      stop(stopOpts = {}) {
        stopped ??= (async () => {
          scheduler?.stop();
          audits?.stop();
          await app.stop();
          running = false;
          await Promise.all(
            workers.map((w) => w.stop({ graceMs: stopOpts.graceMs ?? BOT_DEFAULTS.graceMs })),
          );
          checkpointer?.stop();
          await store.close();
        })();
        return stopped;
      },
    };
  } catch (err) {
    running = false;
    scheduler?.stop();
    audits?.stop();
    await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
    checkpointer?.stop();
    await store.close();
    throw err;
  }
}

/**
 * The optional scheduled audit of what runs: with IMAGE_CHECK_AUDIT_ENGINE naming a DOCKER_HOST and
 * the policy's `watch.auditIntervalMinutes` above 0, audit that engine on that interval and post to
 * the IT channel (a durable job) when containers run without a standing approval. Dockerode is
 * loaded only then.
 */
async function startServeAudit(
  opts: BotOptions,
  store: OpenedStore,
  log: AppLogger,
): Promise<AuditSchedule | null> {
  const engineHost = opts.config.auditEngine;
  const minutes = opts.policy.watch.auditIntervalMinutes;
  if (!engineHost || minutes <= 0) return null;
  const { EngineSource } = await import("../engine/index.js");
  const engine = new EngineSource({ dockerHost: engineHost });
  const queue = openQueue(store);
  const now = opts.now ?? (() => new Date());
  const onError = (err: unknown) => log.warn(`audit of ${engineHost}: ${oneLine(err)}`);
  const schedule = startAuditSchedule({
    run: () => auditEngine({ engine, decisions: store, engineName: engineHost, now: now() }),
    // Replicas take turns, and each compares with the report any of them posted last.
    exclusive: (round) => store.schedulerRound("audit", round),
    lastPosted: async () => {
      const job = await queue.newest(JOB.audit);
      const parsed = job && job.status !== "failed" ? auditReportSchema.safeParse(job.payload) : null;
      return parsed?.success ? parsed.data : null;
    },
    post: (report) => queue.enqueue({ kind: JOB.audit, payload: auditReportSchema.parse(report) }, now()),
    intervalMs: minutes * 60_000,
    onError,
  });
  // The first audit at start, not one interval later.
  schedule.tick().catch(onError);
  return schedule;
}
