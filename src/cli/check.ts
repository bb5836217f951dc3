/**
 * `image-check check REF... [--json] [--policy FILE] [--platform OS/ARCH] [--source registry|engine|auto]`
 * (../shared/CONTRACT.md, "Commands"). Several references are checked concurrently and reported in
 * the order given. Exit: 0 pass, 1 review, 2 block, 3 could not check, 64 usage.
 */
import { userInfo } from "node:os";
import type { Report } from "../checks/report.js";
import { loadConfig } from "../config.js";
import { oneLine } from "../errors.js";
import { parseReference } from "../reference/parse.js";
import type { CliReportInput } from "../store/api.js";
import { type CliIO, type Command, EXIT, parseArgs, UsageError } from "./args.js";
import { refuseWithPostgres } from "./postgres-gate.js";
import type { SourceKind } from "./sources.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check check REF [REF...] [options]

Gather the facts about each image (no layer is downloaded), run every check, and print the report.

Options:
  --json                 print the report JSON (schema image-check/report@1); an array for several REFs
  --policy FILE          policy file (YAML or JSON); default: $IMAGE_CHECK_POLICY, else the built-in policy
  --platform OS/ARCH     platform to pick from a multi-arch index (default: the policy's, linux/amd64)
  --source KIND          registry (default), engine (a local Docker engine), or auto (engine if the image is there)
  --no-store             do not record the report in the store
  --debug                print stack traces on errors
  -h, --help             show this help

Exit codes: 0 pass, 1 review, 2 block, 3 could not check (network, auth, bad registry data), 64 usage error.
A reference that could not be fully checked (check.incomplete, a digest mismatch) exits 3; with
several REFs the exit code is the worst: block, then could not check, then review. 70: internal error.
`;

const FLAGS = {
  json: { type: "boolean" },
  policy: { type: "string" },
  platform: { type: "string" },
  source: { type: "string", choices: ["registry", "engine", "auto"] },
  "no-store": { type: "boolean" },
} as const;

/** The `check` command. */
export const checkCommand: Command = async (argv, io) => {
  const { flags, positionals } = parseArgs("check", argv, FLAGS);
  if (positionals.length === 0)
    throw new UsageError("check: missing image reference (usage: image-check check REF [--json])");
  // Every reference is parsed before anything is fetched, so one typo fails fast and changes nothing.
  for (const p of positionals) {
    try {
      parseReference(p);
    } catch (err) {
      throw new UsageError(oneLine(err));
    }
  }
  const config = loadConfig(io.env);
  if (!flags["no-store"]) refuseWithPostgres("check", config, ", or pass --no-store");
  const { loadPolicy } = await import("./load-policy.js");
  const loaded = await loadPolicy(flags.policy as string | undefined, io.env, io.cwd).catch(
    (err: unknown) => {
      throw new UsageError(oneLine(err));
    },
  );
  if (flags.platform) {
    const { platformOf } = await import("../worker/pipeline.js");
    try {
      platformOf(flags.platform as string);
    } catch (err) {
      throw new UsageError(oneLine(err));
    }
  }

  const storePromise = flags["no-store"] ? Promise.resolve(null) : openStoreQuietly(config.dbPath, io);
  const [{ checkImage }, { createCheckDeps }] = await Promise.all([
    import("../worker/pipeline.js"),
    import("../worker/deps.js"),
  ]);
  const store = await storePromise;
  const deps = await createCheckDeps({
    policy: loaded.policy,
    policySource: loaded.source,
    config,
    env: io.env,
    cwd: io.cwd,
    sourceKind: flags.source as SourceKind | undefined,
    lastKnownDigest: store ? (repo, tag) => store.lastKnownDigest(repo, tag) : undefined,
  });

  const outcomes = await Promise.all(
    positionals.map((reference) =>
      checkImage(reference, deps, { platform: flags.platform as string | undefined }),
    ),
  );
  if (store) {
    const record: CliReportInput = { requestedBy: cliUser(io.env), approvals: loaded.policy.approvals };
    for (const o of outcomes) recordQuietly(store, o.report, record, io);
    store.close();
  }

  const reports = outcomes.map((o) => o.report);
  if (flags.json) {
    io.stdout(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  } else {
    const { renderReportText } = await import("./render-text.js");
    const color = io.isTTY && !io.env.NO_COLOR;
    io.stdout(reports.map((r) => renderReportText(r, { color })).join("\n"));
  }
  return exitCodeFor(outcomes.map((o) => ({ report: o.report, couldNotCheck: Boolean(o.gatherError) })));
};

/**
 * The exit code for several outcomes. One reference: 3 when it could not be fully checked (the
 * registry failed, sent bad data, or part of the facts is missing: `check.incomplete`), else its
 * verdict's code. Several: the worst, in the order block, could not check, review, pass.
 */
export function exitCodeFor(results: { report: Report; couldNotCheck: boolean }[]): number {
  const codes = results.map((r) =>
    r.couldNotCheck || r.report.findings.some((f) => f.id === "check.incomplete" && !f.waived)
      ? EXIT.couldNotCheck
      : r.report.verdict === "block"
        ? EXIT.block
        : r.report.verdict === "review"
          ? EXIT.review
          : EXIT.pass,
  );
  for (const code of [EXIT.block, EXIT.couldNotCheck, EXIT.review]) if (codes.includes(code)) return code;
  return EXIT.pass;
}

type StoreLike = {
  lastKnownDigest(repository: string, tag: string): string | null;
  recordCliReport(report: Report, now: Date, input: CliReportInput): unknown;
  close(): void;
};

/** Open the store for recording; a store that cannot be opened is noted on stderr and skipped. */
async function openStoreQuietly(path: string, io: CliIO): Promise<StoreLike | null> {
  try {
    const { openStore } = await import("../store/index.js");
    return openStore(path) as unknown as StoreLike;
  } catch (err) {
    io.stderr(`image-check check: note: report not recorded (${oneLine(err)})\n`);
    return null;
  }
}

/** Who ran the check, as the store records it: `cli:<os user>`. */
function cliUser(env: NodeJS.ProcessEnv): string {
  let name = env.USER || env.LOGNAME;
  try {
    name ||= userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the name stays unknown.
  }
  return `cli:${name || "unknown"}`;
}

function recordQuietly(store: StoreLike, report: Report, input: CliReportInput, io: CliIO): void {
  try {
    store.recordCliReport(report, new Date(), input);
  } catch (err) {
    io.stderr(`image-check check: note: report not recorded (${oneLine(err)})\n`);
  }
}
