// `image-check serve` in a child process for the shutdown and replica tests: the real command
// (config, store, workers, app, signal handling) with a crafted check runner. CHILD_RUNNER=stall
// makes every check wait until the worker aborts it (a check still running at shutdown);
// CHILD_RUNNER=stall-while-file makes a check wait so while the file CHILD_STALL_FILE exists when it
// starts (the check a replica is killed in), and run as usual once it is gone. CHILD_GRACE_MS
// shortens the grace period, CHILD_LEASE_MS the workers' lease.
import { existsSync } from "node:fs";
import { runServe } from "../../src/cli/serve.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { craftedRunner } from "./slack-harness.js";

const stall: CheckRunner = (_input, signal) =>
  new Promise((_resolve, reject) =>
    signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
  );

const stallFile = process.env.CHILD_STALL_FILE ?? "";
const stallWhileFile: CheckRunner = (input, signal) =>
  stallFile && existsSync(stallFile) ? stall(input, signal) : craftedRunner(input, signal);

const runners: Record<string, CheckRunner> = { stall, "stall-while-file": stallWhileFile };
const runner = runners[process.env.CHILD_RUNNER ?? ""] ?? craftedRunner;
const code = await runServe(
  [],
  {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: false,
    cwd: process.cwd(),
  },
  {
    runner: () => runner,
    graceMs: Number(process.env.CHILD_GRACE_MS ?? 10_000),
    ...(process.env.CHILD_LEASE_MS ? { leaseMs: Number(process.env.CHILD_LEASE_MS) } : {}),
  },
);
process.exitCode = code;
