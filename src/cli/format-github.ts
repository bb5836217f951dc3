/**
 * `check --format github`: GitHub Actions workflow commands
 * (https://docs.github.com/actions/reference/workflows-and-actions/workflow-commands), so each
 * finding at or above the review level shows as an annotation on the file and line of the image
 * reference: `::error` for a finding at the block level, `::warning` at the review level. One
 * plain summary line per image follows its annotations. Pure.
 */
import type { Report } from "../checks/report.js";
import { type Severity, severityRank } from "../checks/types.js";
import { printableKeepingLines } from "./terminal.js";

/** Where an image reference was found. */
export interface Location {
  file: string;
  line: number;
}

/** A report and the places its reference was found (none when it was given on the command line). */
export interface LocatedReport {
  report: Report;
  locations: Location[];
}

/** The policy's verdict levels. */
export interface Levels {
  reviewAt: Severity;
  blockAt: Severity;
}

/** The level of a finding's severity under the policy. */
export function levelOf(severity: Severity, levels: Levels): "block" | "review" | "below" {
  if (severityRank(severity) >= severityRank(levels.blockAt)) return "block";
  if (severityRank(severity) >= severityRank(levels.reviewAt)) return "review";
  return "below";
}

/** Escape a workflow command's message (GitHub's escapeData: `%`, CR, LF). */
export function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** Escape a workflow command's property value (GitHub's escapeProperty: also `:` and `,`). */
export function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

/** The workflow commands for `items`, one per line. */
export function renderGithub(items: LocatedReport[], levels: Levels): string {
  const lines: string[] = [];
  for (const { report, locations } of items) {
    let shown = 0;
    for (const f of report.findings) {
      if (f.waived) continue;
      const level = levelOf(f.severity, levels);
      if (level === "below") continue;
      shown++;
      const command = level === "block" ? "error" : "warning";
      // Image text (build steps, labels) in the detail must not colour, hide or reorder log lines.
      const message = escapeData(printableKeepingLines(`${report.reference}: ${f.title}. ${f.detail}`));
      const title = `title=${escapeProperty(`${f.id} [${f.severity}]`)}`;
      const places = locations.length > 0 ? locations : [undefined];
      for (const at of places) {
        const props = at ? `file=${escapeProperty(at.file)},line=${at.line},${title}` : title;
        lines.push(`::${command} ${props}::${message}`);
      }
    }
    const where = locations.length > 0 ? ` at ${locations.map((l) => `${l.file}:${l.line}`).join(", ")}` : "";
    // A plain line, not a command: shown in the log, never an annotation.
    lines.push(
      escapeData(
        `image-check: ${report.reference}${where}: ${report.verdict.toUpperCase()}, ${shown} finding(s) at or above review`,
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}
