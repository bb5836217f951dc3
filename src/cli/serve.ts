/**
 * `image-check serve` (also `npm start`): the Slack app with its workers (../shared/CONTRACT.md,
 * "Commands", "Configuration", "Slack"). Opens the store (migrations applied), starts the workers
 * and the app, and on SIGTERM or SIGINT stops taking requests, lets running checks finish (or puts
 * them back in the queue) and closes the database.
 */
import type { Config } from "../config.js";
import { ConfigError, readConfig } from "../config.js";
import { isCoded, oneLine } from "../errors.js";
import type { Policy } from "../policy/schema.js";
import type { OpenedStore } from "../store/service.js";
import type { CheckRunner } from "../worker/types.js";
import { type CliIO, type Command, EXIT, parseArgs, UsageError } from "./args.js";
import { printable, printableLines } from "./terminal.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check serve

Start the Slack app: /image-check, the IT approval buttons, the App Home tab, and the workers that
run checks and post to Slack. HTTP mode serves POST /slack/events, GET /healthz and GET /metrics on
$PORT; with SLACK_APP_TOKEN set it connects in Socket Mode (and still serves /healthz and /metrics).

Environment: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (HTTP mode), SLACK_APP_TOKEN (Socket Mode),
IMAGE_CHECK_IT_CHANNEL, IMAGE_CHECK_APPROVERS, IMAGE_CHECK_DB, IMAGE_CHECK_POLICY, SLACK_API_URL,
PORT, LOG_LEVEL (debug, info, warn, error; default info).

The store is the SQLite file IMAGE_CHECK_DB (one process). With IMAGE_CHECK_DATABASE_URL
(postgres://...) it is PostgreSQL instead, migrated at start: run several serve replicas on it and
they share the queue, take turns on the schedules, and settle each request once.

Stops gracefully on SIGTERM or SIGINT.
`;

/** Overrides for tests: a crafted check runner instead of the registry pipeline, a shorter grace and lease. */
export interface ServeOverrides {
  runner?: (store: OpenedStore) => CheckRunner;
  /** How long shutdown waits for running jobs before putting them back in the queue. */
  graceMs?: number;
  /** How long a claimed job is leased (WORKER_DEFAULTS.leaseMs): a killed replica's job comes back sooner. */
  leaseMs?: number;
}

/** The `serve` command. */
export const serveCommand: Command = (argv, io) => runServe(argv, io);

/** Run the bot until SIGTERM or SIGINT; returns the exit code. */
export async function runServe(argv: string[], io: CliIO, overrides: ServeOverrides = {}): Promise<number> {
  const { positionals } = parseArgs("serve", argv, {});
  if (positionals.length > 0) throw new UsageError(`takes no arguments, got "${positionals[0]}"`);
  // Log lines go to stderr; stdout stays free for command output.
  const { lineLogger } = await import("../slack/app.js");
  // Log lines quote registries and Slack users: no control or bidi character reaches the terminal.
  const log = lineLogger(printableLines(io.stderr), io.env.LOG_LEVEL);
  try {
    // Every problem at once, one line per problem: a wrong value and a missing one are both named.
    const { config, problems } = readConfig(io.env);
    const { slackConfigProblems } = await import("../slack/config.js");
    const named = new Set(problems.map((p) => p.slice(0, p.indexOf(":"))));
    problems.push(...slackConfigProblems(config).filter((p) => !named.has(p.slice(0, p.indexOf(":")))));
    if (problems.length) throw new ConfigError(problems);
    const [{ loadPolicy }, { policyVersion }, { startBot }] = await Promise.all([
      import("./load-policy.js"),
      import("../policy/evaluate.js"),
      import("../slack/bot.js"),
    ]);
    const { policy, source: policySource } = await loadPolicy(config.policyPath, io.env, io.cwd);
    const version = policyVersion(policy);
    const runner =
      overrides.runner ?? (await pipelineRunner({ policy, policySource, config, env: io.env, cwd: io.cwd }));
    const stopped = waitForSignal();
    const bot = await startBot({
      config,
      policy,
      policyVersion: version,
      runner,
      logger: log,
      ...(overrides.leaseMs ? { worker: { leaseMs: overrides.leaseMs } } : {}),
    });
    const signal = await stopped;
    log.info(`${signal}: stopping (no new requests; running checks finish or go back to the queue)`);
    await bot.stop({ graceMs: overrides.graceMs });
    log.info("stopped");
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) io.stderr(`image-check serve: ${printable(problem)}\n`);
      return EXIT.usage;
    }
    // A wrong policy file is a usage error like a wrong flag: one line naming the file and the field.
    if (isCoded(err, "INVALID_POLICY", "POLICY_NOT_FOUND", "KEY_NOT_FOUND", "TRUSTED_ROOT_UNREADABLE")) {
      io.stderr(`image-check serve: ${printable(oneLine(err))}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

/**
 * The check runner over the pipeline, as `image-check check` runs it, with the store's last known
 * digests (for `tag.moved`). Temporary registry failures are retried by the worker.
 */
export async function pipelineRunner(input: {
  policy: Policy;
  policySource: string;
  config: Config;
  env: NodeJS.ProcessEnv;
  cwd: string;
}): Promise<(store: OpenedStore) => CheckRunner> {
  const { createCheckRunner } = await import("../worker/deps.js");
  let current: OpenedStore | null = null;
  const runner = await createCheckRunner({
    ...input,
    lastKnownDigest: (repository, tag) => current?.lastKnownDigest(repository, tag) ?? null,
  });
  return (store) => {
    current = store;
    return runner;
  };
}

/** Resolves with the name of the first SIGTERM or SIGINT. */
function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      resolve(signal);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}
