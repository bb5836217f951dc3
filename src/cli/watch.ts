/**
 * `image-check watch [--once]`: re-check every approved, unexpired digest whose last check is older
 * than the policy's `watch.intervalHours`, and act on what changed (src/worker/watch.ts). `--once`
 * runs one round through the durable queue and exits (for cron); without it, the schedule runs
 * until SIGTERM or SIGINT, as `serve` runs it. When the Slack variables `serve` needs are set, the
 * findings are posted (IT thread, the requester's DM, the request again for IT after a
 * revocation); without them the outcomes are only recorded, and a revoked digest's new request
 * waits in `decisions --status pending`.
 */
import { resolve } from "node:path";
import { readConfig } from "../config.js";
import { oneLine } from "../errors.js";
import type { OpenedStore } from "../store/service.js";
import type { JobHandlerSpec } from "../worker/types.js";
import type { RecheckOutcome } from "../worker/watch.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";

/** Defaults, each with why. */
export const WATCH_CLI_DEFAULTS = {
  /**
   * How long `--once` waits for retried jobs (a Slack post backing off) before it exits: long
   * enough for a few retries, short enough for a cron slot. Jobs left over run at the next start.
   */
  drainMs: 5 * 60_000,
};

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check watch [--once]

Re-checks every approved, unexpired digest in the store (IMAGE_CHECK_DB, or PostgreSQL with IMAGE_CHECK_DATABASE_URL) whose last check is
older than the policy's watch.intervalHours (0 turns watch off). A re-check that finds findings at
or above review that the approval did not see adds watch.changed; at or above watch.revokeAt the
approval is revoked (decisions --status revoked) and the request goes to IT again. With the Slack
variables of serve set, IT's thread and the requester are told.

The policy comes from IMAGE_CHECK_POLICY (there is no --policy flag), the built-in policy when it
is unset: set it to the file serve uses, so a re-check judges under the policy of the approval.

Options:
  --once       run one round, wait for it to finish, print a summary and exit (for cron)
  --debug      print stack traces on errors
  -h, --help   show this help

Without --once it runs the schedule until stopped; serve runs the same schedule itself.
`;

/** The `watch` command. */
export const watchCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { flags, positionals } = parseArgs("watch", argv, { once: { type: "boolean" } });
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (see image-check watch --help)`);
  const { config } = readConfig(io.env);
  const [{ loadPolicy }, { policyVersion }, { openConfiguredStore }, { openQueue }, worker, watch] =
    await Promise.all([
      import("./load-policy.js"),
      import("../policy/evaluate.js"),
      import("../store/open.js"),
      import("../worker/queue.js"),
      import("../worker/worker.js"),
      import("../worker/watch.js"),
    ]);
  const { policy, source: policySource } = await loadPolicy(config.policyPath, io.env, io.cwd);
  const { pipelineRunner } = await import("./serve.js");
  const makeRunner = await pipelineRunner({ policy, policySource, config, env: io.env, cwd: io.cwd });
  const store: OpenedStore = await openConfiguredStore({ ...config, dbPath: resolve(io.cwd, config.dbPath) });
  const now = () => new Date();
  const queue = openQueue(store);
  const watchStore = store.watch();
  const slack = await slackSide(config, store, policy, policyVersion(policy), io);
  const outcomes: RecheckOutcome[] = [];
  const recheck = watch.recheckJobHandler({
    store,
    watch: watchStore,
    runner: makeRunner(store),
    policy,
    now,
    notifier: slack?.notifier ?? null,
  });
  const counting: JobHandlerSpec = {
    run: async (payload, ctx) => {
      const out = (await (typeof recheck === "function" ? recheck : recheck.run)(
        payload,
        ctx,
      )) as RecheckOutcome;
      outcomes.push(out);
      return out;
    },
  };
  const onEvent = (e: import("../worker/types.js").WorkerEvent) => {
    if (e.type === "failed")
      io.stderr(`image-check watch: ${e.job.kind} #${e.job.id} failed: ${e.error.code} ${e.error.message}\n`);
  };
  const workers = [
    worker.startWorker({ store, handlers: { [watch.RECHECK_JOB]: counting }, now, onEvent }),
    ...(slack ? [worker.startWorker({ store, handlers: slack.handlers, now, onEvent })] : []),
  ];
  const kinds = [watch.RECHECK_JOB, ...Object.keys(slack?.handlers ?? {})];
  try {
    if (flags.once) {
      // With replicas on one PostgreSQL store, a round another one is running now is not run twice.
      const round = await store.schedulerRound("watch", () =>
        watch.enqueueRound({ watch: watchStore, queue, intervalHours: policy.watch.intervalHours, now }),
      );
      if (!round.ran) {
        io.stderr(
          "image-check watch: another process is running a watch round on this store; nothing done\n",
        );
        return 0;
      }
      const due = round.value;
      // A re-check may enqueue Slack posts, and a post may wait for a retry: run until neither
      // worker has work queued, or until the drain limit (what is left then waits for serve or
      // the next run).
      const until = Date.now() + WATCH_CLI_DEFAULTS.drainMs;
      for (;;) {
        for (const w of workers) await w.idle();
        const next = await queue.nextDueAt(kinds);
        if (((await queue.counts()).running === 0 && next === null) || Date.now() > until) break;
        const wait = next === null ? 50 : Math.min(1000, Math.max(10, Date.parse(next) - Date.now()));
        await new Promise((r) => setTimeout(r, wait));
      }
      io.stdout(summary(due, outcomes, policy.watch.intervalHours, Boolean(slack)));
      return 0;
    }
    const scheduler = watch.startWatchScheduler({
      exclusive: (pass) => store.schedulerRound("watch", pass),
      watch: watchStore,
      queue,
      intervalHours: policy.watch.intervalHours,
      now,
      onError: (err) => io.stderr(`image-check watch: schedule: ${oneLine(err)}\n`),
    });
    scheduler.pass();
    const signal = await new Promise<string>((done) => {
      const on = (s: NodeJS.Signals) => {
        process.off("SIGTERM", on);
        process.off("SIGINT", on);
        done(s);
      };
      process.on("SIGTERM", on);
      process.on("SIGINT", on);
    });
    scheduler.stop();
    io.stderr(`image-check watch: ${signal}: stopping\n`);
    return 0;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await store.close();
  }
};

/** The Slack posting side, when the variables serve needs are set; null otherwise. Bolt is loaded only then. */
async function slackSide(
  config: import("../config.js").Config,
  store: OpenedStore,
  policy: import("../policy/schema.js").Policy,
  version: string,
  io: CliIO,
): Promise<{
  handlers: Record<string, JobHandlerSpec>;
  notifier: import("../worker/watch.js").WatchNotifier;
} | null> {
  const { slackConfigProblems } = await import("../slack/config.js");
  if (slackConfigProblems(config).length > 0) return null;
  const [{ createSlackApp, lineLogger }, { watchNotifier }, { openQueue }] = await Promise.all([
    import("../slack/app.js"),
    import("../slack/watch-jobs.js"),
    import("../worker/queue.js"),
  ]);
  // The app is built for its job handlers only: it is never started, so nothing listens here.
  const app = createSlackApp({
    config,
    store,
    policy,
    policyVersion: version,
    now: () => new Date(),
    logger: lineLogger(io.stderr, io.env.LOG_LEVEL ?? "warn"),
  });
  return { handlers: app.jobHandlers, notifier: watchNotifier(openQueue(store)) };
}

/** One line per outcome kind. */
function summary(
  due: number,
  outcomes: readonly RecheckOutcome[],
  intervalHours: number,
  slack: boolean,
): string {
  if (intervalHours <= 0) return "watch is off (watch.intervalHours is 0 in the policy).\n";
  const count = (o: RecheckOutcome["outcome"]) => outcomes.filter((x) => x.outcome === o).length;
  const lines = [
    `Re-checked ${outcomes.length - count("skipped")} of ${due} approval(s) due: ${count("unchanged")} unchanged, ${count("changed")} changed, ${count("revoked")} revoked, ${count("incomplete")} could not finish.`,
  ];
  if (!slack && (count("changed") || count("revoked")))
    lines.push("Slack is not configured: nobody was told; see image-check decisions --status revoked.");
  return `${lines.join("\n")}\n`;
}
