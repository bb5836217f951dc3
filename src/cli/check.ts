/**
 * `image-check check REF... [--file PATH...] [--format text|json|sarif|github] [--policy FILE]
 * [--platform OS/ARCH] [--source registry|engine|auto] [--vuln-report FILE]` (the README's "Commands"). Several
 * references are checked concurrently and reported in the order given; a reference found in
 * several places (files, lines, the command line) is checked once and reported at each place.
 * Exit: 0 pass, 1 review, 2 block, 3 could not check, 64 usage.
 */
import { userInfo } from "node:os";
import { couldNotFinish, type Report } from "../checks/report.js";
import { loadConfig } from "../config.js";
import { oneLine } from "../errors.js";
import type { FoundReference } from "../files/index.js";
import type { Policy } from "../policy/schema.js";
import { formatReference, parseReference } from "../reference/parse.js";
import type { CliReportInput } from "../store/api.js";
import type { StoreLocation } from "../store/open.js";
import { type CliIO, type Command, EXIT, parseArgs, UsageError } from "./args.js";
import type { LocatedReport, Location } from "./format-github.js";
import type { SourceKind } from "./sources.js";
import { printable } from "./terminal.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check check REF [REF...] [options]
       image-check check --file PATH [--file PATH...] [REF...] [options]

Gather the facts about each image (no layer is downloaded), run every check, and print the report.

Options:
  --file PATH            also check every image referenced in PATH: a Dockerfile (FROM, COPY --from, ARG
                         defaults applied), a compose file (services.*.image) or Kubernetes YAML (pod
                         containers of any workload); repeatable. Each image is checked once and
                         reported at every file and line that names it
  --format FORMAT        text (default), json, sarif (SARIF 2.1.0, for code scanning) or github
                         (GitHub Actions ::error / ::warning annotations at the file and line)
  --json                 the same as --format json: the report JSON (schema image-check/report@1);
                         an array for several images
  --policy FILE          policy file (YAML or JSON); default: $IMAGE_CHECK_POLICY, else the built-in policy
  --platform OS/ARCH     platform to pick from a multi-arch index (default: the policy's, linux/amd64);
                         given explicitly, a single-platform image of another platform is refused
  --source KIND          registry (default), engine (a local Docker engine), or auto (engine if the image is there)
  --vuln-report FILE     also read vulnerabilities from a Trivy or Grype JSON report made for this image (one REF);
                         refused when it names another digest
  --no-store             do not record the report in the store (IMAGE_CHECK_DB, or PostgreSQL with
                         IMAGE_CHECK_DATABASE_URL)
  --debug                print stack traces on errors
  -h, --help             show this help

Exit codes: 0 pass, 1 review, 2 block, 3 could not check (network, auth, bad registry data), 64 usage error.
A reference that could not be fully checked (check.incomplete, a digest mismatch) exits 3; with
several REFs the exit code is the worst: block, then could not check, then review. 70: internal error.
`;

const FLAGS = {
  json: { type: "boolean" },
  file: { type: "string", multiple: true },
  format: { type: "string", choices: ["text", "json", "sarif", "github"] },
  policy: { type: "string" },
  platform: { type: "string" },
  source: { type: "string", choices: ["registry", "engine", "auto"] },
  "no-store": { type: "boolean" },
  "vuln-report": { type: "string" },
} as const;

/** The `check` command. */
export const checkCommand: Command = async (argv, io) => {
  const { flags, positionals } = parseArgs("check", argv, FLAGS);
  const files = (flags.file as string[] | undefined) ?? [];
  if (positionals.length === 0 && files.length === 0)
    throw new UsageError("missing image reference (usage: image-check check REF [--json], or --file PATH)");
  if (flags.json && flags.format && flags.format !== "json")
    throw new UsageError(`--json and --format ${flags.format} contradict each other`);
  const format = (flags.json ? "json" : ((flags.format as string | undefined) ?? "text")) as Format;
  // Every reference is parsed, and every file read, before anything is fetched, so one typo fails
  // fast and changes nothing.
  for (const p of positionals) {
    try {
      parseReference(p);
    } catch (err) {
      throw new UsageError(oneLine(err));
    }
  }
  const targets = collectTargets(
    positionals,
    files.length > 0 ? await referencesFromFiles(files, io.cwd) : [],
  );
  if (targets.length === 0) {
    // Files with no image in them (a ConfigMap, build-only compose services) pass; say so. JSON and
    // SARIF still print their (empty) document, which a pipeline may upload.
    io.stderr(`image-check check: no image references in ${files.join(", ")}\n`);
    if (format === "text" || format === "github") return EXIT.pass;
  }
  const config = loadConfig(io.env);
  // The check's modules do not depend on the policy: their files are read while it loads, instead
  // of one import after the other (each a round of file reads at start-up).
  const checkModules = Promise.all([import("../worker/pipeline.js"), import("../worker/deps.js")]);
  checkModules.catch(() => {});
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

  const vulnReportPath = flags["vuln-report"] as string | undefined;
  if (vulnReportPath && (targets.length !== 1 || files.length > 0))
    throw new UsageError("--vuln-report describes one image: give exactly one REF with it");
  const vulnModule = vulnReportPath ? await import("./vuln-report.js") : undefined;
  const vulnReport = vulnReportPath
    ? await vulnModule?.readVulnReportFile(vulnReportPath, io.cwd)
    : undefined;

  const storePromise = flags["no-store"] ? Promise.resolve(null) : openStoreQuietly(config, io);
  const [{ checkImage }, { createCheckDeps }] = await checkModules;
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
    targets.map((t) =>
      checkImage(t.reference, deps, {
        platform: flags.platform as string | undefined,
        ...(vulnModule && vulnReport && vulnReportPath
          ? {
              vulnInputs: (facts) => ({
                report: vulnModule.bindVulnReport(vulnReportPath, vulnReport, facts),
              }),
            }
          : {}),
      }),
    ),
  );
  if (store) {
    const record: CliReportInput = { requestedBy: cliUser(io.env), approvals: loaded.policy.approvals };
    for (const o of outcomes) await recordQuietly(store, o.report, record, io);
    await store.close();
  }

  const located = outcomes.map((o, i) => ({ report: o.report, locations: targets[i]!.locations }));
  io.stdout(await render(format, located, loaded.policy, io));
  return exitCodeFor(outcomes.map((o) => ({ report: o.report, couldNotCheck: Boolean(o.gatherError) })));
};

/** The output formats of `--format`. */
type Format = "text" | "json" | "sarif" | "github";

/** One image to check: the reference (as first written) and every place it was found. */
interface Target {
  reference: string;
  locations: Location[];
}

/** The references of `files`, each read capped and parsed; any problem is a usage error naming the file. */
async function referencesFromFiles(files: string[], cwd: string): Promise<FoundReference[]> {
  const [{ referencesIn }, { readInputFile }] = await Promise.all([
    import("../files/index.js"),
    import("./read-files.js"),
  ]);
  const found: FoundReference[] = [];
  for (const file of files) {
    try {
      found.push(...referencesIn(file, await readInputFile(file, cwd)).references);
    } catch (err) {
      throw new UsageError(oneLine(err));
    }
  }
  return found;
}

/**
 * One target per image: references that name the same image in any spelling (`nginx:1.27`,
 * `docker.io/library/nginx:1.27`) are checked once, with all their places. Command-line references
 * come first, then files in the order given.
 */
export function collectTargets(positionals: string[], found: FoundReference[]): Target[] {
  const byKey = new Map<string, Target>();
  const add = (reference: string, at?: Location) => {
    const key = formatReference(parseReference(reference));
    let t = byKey.get(key);
    if (!t) {
      t = { reference, locations: [] };
      byKey.set(key, t);
    }
    if (at) t.locations.push(at);
  };
  for (const p of positionals) add(p);
  for (const f of found) add(f.reference, { file: f.file, line: f.line });
  return [...byKey.values()];
}

async function render(format: Format, located: LocatedReport[], policy: Policy, io: CliIO): Promise<string> {
  const levels = { reviewAt: policy.verdict.reviewAt, blockAt: policy.verdict.blockAt };
  if (format === "json") {
    const shown = located.map(({ report, locations }) =>
      locations.length > 0 ? { ...report, locations } : report,
    );
    return `${JSON.stringify(shown.length === 1 ? shown[0] : shown, null, 2)}\n`;
  }
  if (format === "sarif") {
    const [{ renderSarif }, { packageInfo }] = await Promise.all([
      import("./format-sarif.js"),
      import("./package-info.js"),
    ]);
    const pkg = await packageInfo();
    const sarif = renderSarif(located, {
      ...levels,
      version: pkg.version,
      ...(pkg.homepage ? { helpUri: pkg.homepage } : {}),
    });
    return `${JSON.stringify(sarif, null, 2)}\n`;
  }
  if (format === "github") {
    const { renderGithub } = await import("./format-github.js");
    return renderGithub(located, levels);
  }
  const { renderReportText } = await import("./render-text.js");
  const color = io.isTTY && !io.env.NO_COLOR;
  return located
    .map(({ report, locations }) => {
      const where =
        locations.length > 0 ? `at ${locations.map((l) => `${l.file}:${l.line}`).join(", ")}\n` : "";
      return where + renderReportText(report, { color });
    })
    .join("\n");
}

/**
 * The exit code for several outcomes. One reference: 3 when it could not be fully checked (the
 * registry failed, sent bad data, or part of the facts is missing: `check.incomplete`), else its
 * verdict's code. Several: the worst, in the order block, could not check, review, pass.
 */
export function exitCodeFor(results: { report: Report; couldNotCheck: boolean }[]): number {
  const codes = results.map((r) =>
    r.couldNotCheck || couldNotFinish(r.report)
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
  lastKnownDigest(repository: string, tag: string): Promise<string | null>;
  recordCliReport(report: Report, now: Date, input: CliReportInput): Promise<unknown>;
  close(): Promise<void>;
};

/** Open the store for recording; a store that cannot be opened is noted on stderr and skipped. */
async function openStoreQuietly(where: StoreLocation, io: CliIO): Promise<StoreLike | null> {
  try {
    const { openConfiguredStore } = await import("../store/open.js");
    return await openConfiguredStore(where);
  } catch (err) {
    io.stderr(`image-check check: note: report not recorded (${printable(oneLine(err))})\n`);
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

async function recordQuietly(
  store: StoreLike,
  report: Report,
  input: CliReportInput,
  io: CliIO,
): Promise<void> {
  try {
    await store.recordCliReport(report, new Date(), input);
  } catch (err) {
    io.stderr(`image-check check: note: report not recorded (${printable(oneLine(err))})\n`);
  }
}
