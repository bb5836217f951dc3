/**
 * The IT channel's summary of `serve`'s scheduled audit (src/worker/audit.ts): which running
 * containers run an image without a standing approval, and what they run. Pure. Container names,
 * images and commands come from whoever started the container: all escaped.
 */
import type { AuditReport } from "../../worker/audit.js";
import { clip, code, escapeSlack } from "../escape.js";
import { context, fallback, LIMITS, linesWithin, type Message, section } from "./blocks.js";

/** Processes shown per container; `image-check audit` on the host has them all. */
const MAX_PROCESSES = 3;

/** The summary: one line per unapproved running container, with its first processes. */
export function renderAuditSummary(report: AuditReport): Message {
  const unapproved = report.containers.filter(
    (c) => c.state === "running" && c.decision?.status !== "approved",
  );
  const lines = unapproved.map((c) => {
    const status = c.digest ? (c.decision?.status ?? "never decided here") : "built locally, no digest";
    const procs = (c.processes ?? [])
      .slice(0, MAX_PROCESSES)
      .map((p) => `    ${code(`${p.pid} ${p.user} ${p.command}`)}`);
    return [`• ${code(c.name)} runs ${code(c.image)} — ${escapeSlack(status)}`, ...procs].join("\n");
  });
  return {
    text: fallback(
      `${unapproved.length} running container(s) without a standing approval on ${escapeSlack(report.engine)}`,
    ),
    blocks: [
      section(
        `:mag: *Audit of ${code(report.engine)}*: ${unapproved.length} running container(s) without a standing approval`,
      ),
      section(linesWithin(lines)),
      context(
        `Checked ${clip(escapeSlack(report.checkedAt), 40)}. Run \`image-check audit\` on the host for the full list.`,
      ),
    ].slice(0, LIMITS.messageBlocks),
  };
}
