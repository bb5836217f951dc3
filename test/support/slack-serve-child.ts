// `image-check serve` in a child process for the shutdown test: the real command (config, store,
// workers, app, signal handling) with a crafted check runner. CHILD_RUNNER=stall makes every check
// wait until the worker aborts it (a check still running at shutdown); CHILD_GRACE_MS shortens the
// grace period.
import { runServe } from "../../src/cli/serve.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { craftedRunner } from "./slack-harness.js";

const stall: CheckRunner = (_input, signal) =>
  new Promise((_resolve, reject) =>
    signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
  );

const runner = process.env.CHILD_RUNNER === "stall" ? stall : craftedRunner;
const code = await runServe(
  [],
  {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: false,
    cwd: process.cwd(),
  },
  { runner: () => runner, graceMs: Number(process.env.CHILD_GRACE_MS ?? 10_000) },
);
process.exitCode = code;
