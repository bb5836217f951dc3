/**
 * `image-check audit [--json] [--all]`: which containers run on the Docker engine (DOCKER_HOST),
 * from which image digest, and whether that digest has a standing approval here; for those that do
 * not, what they run (`docker top`). Exit 0 when every running container's digest has a standing
 * approval, 1 when not, 3 when the engine cannot be reached. Read-only: it never creates, migrates
 * or writes the store, and loads no Slack code.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfig } from "../config.js";
import { EngineSource } from "../engine/index.js";
import { isCoded, oneLine } from "../errors.js";
import { openConfiguredStore } from "../store/open.js";
import { type AuditContainer, type AuditReport, auditEngine } from "../worker/audit.js";
import { type CliIO, type Command, EXIT, parseArgs, UsageError } from "./args.js";
import { TERMINAL_UNSAFE_INLINE } from "./terminal.js";

/** The engine the docker CLI asks when DOCKER_HOST is unset. */
const DEFAULT_ENGINE = "unix:///var/run/docker.sock";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check audit [--json] [--all]

Lists the containers on the Docker engine (DOCKER_HOST; the default socket when unset) with the
repo digest of each one's image and the decision that stands for that digest in the store
(IMAGE_CHECK_DB, or PostgreSQL with IMAGE_CHECK_DATABASE_URL): approved until a date, rejected, expired, revoked, pending, or never decided
here. For each container without a standing approval it also shows the processes it runs
(docker top). An image without a repo digest (built on this engine, never pushed or pulled) is
reported as such and is never approved.

Options:
  --all        also stopped containers (running ones only by default)
  --json       the image-check/audit@1 JSON document
  --debug      print stack traces on errors
  -h, --help   show this help

Exit status: 0 every running container's digest has a standing approval, 1 at least one has not,
3 the engine cannot be reached.
`;

/** Engine failures that mean "nothing usable answers at DOCKER_HOST": exit 3. */
const UNREACHABLE = ["ENGINE_UNAVAILABLE", "TIMEOUT", "DENIED", "SERVER_ERROR", "BAD_RESPONSE"] as const;

/** The `audit` command. */
export const auditCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { flags, positionals } = parseArgs("audit", argv, {
    json: { type: "boolean" },
    all: { type: "boolean" },
  });
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (see image-check audit --help)`);
  const config = loadConfig(io.env);
  const engineName = config.dockerHost ?? DEFAULT_ENGINE;
  const dbPath = resolve(io.cwd, config.dbPath);
  // No store yet (SQLite file missing) means no decisions: every container shows as unapproved.
  const store =
    config.databaseUrl !== undefined || existsSync(dbPath)
      ? await openConfiguredStore({ ...config, dbPath }, { readonly: true })
      : null;
  let report: AuditReport;
  try {
    report = await auditEngine({
      engine: new EngineSource(config.dockerHost ? { dockerHost: config.dockerHost } : {}),
      decisions: store,
      engineName,
      now: new Date(),
      all: Boolean(flags.all),
    });
  } catch (err) {
    if (!isCoded(err, ...UNREACHABLE)) throw err;
    io.stderr(`image-check audit: cannot reach the Docker engine at ${engineName}: ${oneLine(err)}\n`);
    return EXIT.couldNotCheck;
  } finally {
    await store?.close();
  }
  io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderAudit(report));
  return report.unapproved === 0 ? 0 : 1;
};

/** The audit for people: one line per container, then the processes of each one without an approval. */
export function renderAudit(report: AuditReport): string {
  const lines = [`Engine ${safe(report.engine)}, ${report.containers.length} container(s)`];
  if (report.containers.length === 0) lines.push("  (no containers)");
  for (const c of report.containers) {
    lines.push(`  ${safe(c.name)} (${c.id.slice(0, 12)}, ${safe(c.state)})  ${safe(c.image)}`);
    lines.push(`    digest:   ${c.digest ?? "none (built locally, never pushed or pulled: never approved)"}`);
    lines.push(`    decision: ${decisionText(c)}`);
    if (c.processes) {
      if (c.processes.length === 0) lines.push("    processes: (none: not running)");
      else {
        lines.push("    processes:");
        for (const p of c.processes)
          lines.push(`      ${safe(p.pid).padStart(7)}  ${safe(p.user).padEnd(8)}  ${safe(p.command)}`);
      }
    }
  }
  lines.push(
    report.unapproved === 0
      ? "Every running container's image has a standing approval."
      : `${report.unapproved} running container(s) without a standing approval.`,
  );
  return `${lines.join("\n")}\n`;
}

function decisionText(c: AuditContainer): string {
  const d = c.decision;
  if (!d) return c.digest ? "never decided here" : "never approved";
  if (d.status === "approved")
    return `approved by ${safe(d.decidedBy ?? "")} until ${d.expiresAt?.slice(0, 10) ?? "-"}`;
  if (d.status === "pending") return "pending (a request waits for IT)";
  if (d.status === "expired")
    return `expired on ${d.expiresAt?.slice(0, 10) ?? "-"} (approved by ${safe(d.decidedBy ?? "")})`;
  return `${d.status} by ${safe(d.decidedBy ?? "")}`;
}

/** Container names, images and commands come from whoever started the container: flattened so they cannot move the cursor. */
function safe(text: string): string {
  return text.replace(TERMINAL_UNSAFE_INLINE, " ");
}
