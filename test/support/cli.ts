/** Runs the CLI in-process with captured output, as a user's shell would see it (no TTY). */
import { main } from "../../src/cli/main.js";

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `image-check ARGS` with `env` (PATH is passed through) in `cwd`. */
export async function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd: string },
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { PATH: process.env.PATH, ...opts.env },
    isTTY: false,
    cwd: opts.cwd,
  });
  return { code, stdout, stderr };
}
