/**
 * CLI benchmark (part of `npm run bench`): the installed program as a whole process, as a CI job
 * runs it, against skopeo in the same run.
 *
 * - `check --no-store` of a single-arch image on the loopback registry (the testbed's open
 *   registry), wall time and peak RSS, against `skopeo inspect` + `skopeo inspect --config` of the
 *   same image (two processes, as the facts need both). Targets (issue 12): ≤ 2.5× the skopeo pair,
 *   ≤ 60 MB peak RSS.
 * - `--version`: what starting the program alone costs; `node -e 0`: what starting Node alone costs.
 * - `serve` at rest: RSS once /healthz answers and nothing is asked (target ≤ 150 MB).
 *
 * Runs the program package.json's `bin` names (build it first: `npm run build`). Never asserts a
 * time: the figures are for reading. Alone: `npm run bench -- cli`.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { startFakeSlack } from "../test/support/fake-slack.js";
import { pushImage, randomRepo } from "../test/support/image-builder.js";
import type { Testbed } from "../test/support/testbed.js";

const exec = promisify(execFile);

/** Runs per measurement: odd, so the median is one real run. */
const RUNS = 11;

const MAX_RSS = resolve("bench/support/max-rss.cjs");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The built program, as package.json's bin names it. */
function binPath(): string {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> };
  return resolve(pkg.bin["image-check"]!);
}

/** Run `node BIN args` to its end: wall ms and peak RSS (MB). Exit codes are expected (1 review). */
async function runProgram(
  args: string[],
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<{ ms: number; rssMb: number; code: number; stdout: string }> {
  const rssFile = join(dir, "rss");
  const started = performance.now();
  let code = 0;
  let stdout = "";
  try {
    const out = await exec(process.execPath, [binPath(), ...args], {
      env: { ...env, NODE_OPTIONS: `--require ${MAX_RSS}`, BENCH_RSS_FILE: rssFile },
      cwd: dir,
    });
    stdout = out.stdout;
  } catch (err) {
    code = (err as { code?: number }).code ?? -1;
    stdout = (err as { stdout?: string }).stdout ?? "";
  }
  const ms = performance.now() - started;
  return { ms, rssMb: Number(readFileSync(rssFile, "utf8")) / 1024, code, stdout };
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

/** Start `serve`, wait for /healthz, let it settle, read its RSS from /proc; then stop it. */
async function serveAtRest(dir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const port = await freePort();
  // serve asks Slack who it is at start-up: the in-repo fake answers, on loopback.
  const slack = await startFakeSlack();
  const child = spawn(process.execPath, [binPath(), "serve"], {
    cwd: dir,
    env: {
      ...env,
      PORT: String(port),
      IMAGE_CHECK_DB: join(dir, "serve.db"),
      SLACK_BOT_TOKEN: "xoxb-bench",
      SLACK_SIGNING_SECRET: "bench-secret",
      SLACK_API_URL: slack.apiUrl,
      IMAGE_CHECK_IT_CHANNEL: "C0BENCH",
      IMAGE_CHECK_APPROVERS: "U0BENCH",
    },
    stdio: "ignore",
  });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error("serve did not answer /healthz within 30 s");
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // At rest: two seconds with nothing asked.
    await new Promise((r) => setTimeout(r, 2000));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN) / 1024;
  } finally {
    child.kill("SIGTERM");
    await slack.close();
  }
}

/** The benchmark; returns the printed table. */
export async function benchCli(testbed: Testbed): Promise<string> {
  const ep = testbed.open;
  const repo = randomRepo("bench-cli");
  await pushImage(
    ep,
    repo,
    { config: { User: "app", Labels: { "org.opencontainers.image.source": "https://example.invalid/x" } } },
    "1.0",
  );
  const ref = `${ep.host}/${repo}:1.0`;
  const dir = mkdtempSync(join(tmpdir(), "image-check-bench-cli-"));
  try {
    // A JSON policy (allowing the loopback registry): a YAML policy would load the YAML parser too.
    const policy = join(dir, "policy.json");
    writeFileSync(
      policy,
      JSON.stringify({ registries: { allowPrivate: [ep.host], allowInsecure: [ep.host] } }),
    );
    // The Hub publisher look-up goes to a closed loopback port: no public name is ever resolved.
    const env = { PATH: process.env.PATH, HOME: dir, IMAGE_CHECK_HUB_URL: "http://127.0.0.1:9/" };
    const skopeo = (config: boolean) =>
      exec(testbed.skopeo, [
        "inspect",
        "--tls-verify=false",
        ...(config ? ["--config"] : []),
        `docker://${ref}`,
      ]);

    const check: number[] = [];
    const inside: number[] = [];
    const checkRss: number[] = [];
    const version: number[] = [];
    const versionRss: number[] = [];
    const pair: number[] = [];
    const bare: number[] = [];
    let code = 0;
    // Warm-up of every contestant (page cache), then interleaved so machine noise falls on all alike.
    await runProgram(["check", ref, "--no-store", "--json", "--policy", policy], env, dir);
    await skopeo(false);
    for (let i = 0; i < RUNS; i++) {
      const c = await runProgram(["check", ref, "--no-store", "--json", "--policy", policy], env, dir);
      check.push(c.ms);
      inside.push((JSON.parse(c.stdout) as { durationMs: number }).durationMs);
      checkRss.push(c.rssMb);
      code = c.code;
      const v = await runProgram(["--version"], env, dir);
      version.push(v.ms);
      versionRss.push(v.rssMb);
      const nodeStarted = performance.now();
      await exec(process.execPath, ["-e", "0"], { env, cwd: dir });
      bare.push(performance.now() - nodeStarted);
      const started = performance.now();
      await skopeo(false);
      await skopeo(true);
      pair.push(performance.now() - started);
    }
    const restMb = await serveAtRest(dir, env);
    const m = {
      check: median(check),
      pair: median(pair),
      version: median(version),
      inside: median(inside),
      bare: median(bare),
    };
    return [
      `CLI: ${RUNS} runs per figure, medians (RSS: the largest run); single-arch image on the loopback registry; program: ${binPath().replace(`${resolve(".")}/`, "")}.`,
      "",
      "| what | wall ms | peak RSS MB | target |",
      "|---|---|---|---|",
      `| image-check check --no-store --json (exit ${code}) | ${m.check.toFixed(1)} | ${Math.max(...checkRss).toFixed(1)} | ≤ 2.5× skopeo pair, ≤ 60 MB |`,
      `| of which the check itself (report durationMs: gather, verify, checks) | ${m.inside.toFixed(1)} | | |`,
      `| skopeo inspect + skopeo inspect --config | ${m.pair.toFixed(1)} | | |`,
      `| check / skopeo pair | ${(m.check / m.pair).toFixed(2)}× | | ≤ 2.5× |`,
      `| image-check --version | ${m.version.toFixed(1)} | ${Math.max(...versionRss).toFixed(1)} | |`,
      `| node -e 0 (the runtime's own start, the floor of any Node program) | ${m.bare.toFixed(1)} | | |`,
      `| image-check serve at rest (VmRSS) | | ${restMb.toFixed(1)} | ≤ 150 MB |`,
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
