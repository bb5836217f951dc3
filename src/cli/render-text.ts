/**
 * The human report of `image-check check`: verdict, findings by severity, the pinned reference,
 * and how to run the image. Colour only when asked (the CLI asks on a TTY without NO_COLOR).
 * Every string from the image passes through `clean()`: a label or history line must not be able
 * to move the cursor, recolour the terminal or reorder text.
 */

import { couldNotFinish, type Report } from "../checks/report.js";
import { type Finding, SEVERITIES, type Severity } from "../checks/types.js";
import { TERMINAL_UNSAFE } from "./terminal.js";

/** Options of the text renderer. */
export interface RenderOptions {
  color: boolean;
}

const ANSI = {
  reset: "\x1b[0m",
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  red: "\x1b[31m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
};

const SEVERITY_STYLE: Record<Severity, (keyof typeof ANSI)[]> = {
  critical: ["bold", "red"],
  high: ["red"],
  medium: ["yellow"],
  low: ["cyan"],
  info: ["dim"],
};

const VERDICT_STYLE: Record<Report["verdict"], (keyof typeof ANSI)[]> = {
  pass: ["bold", "green"],
  review: ["bold", "yellow"],
  block: ["bold", "red"],
};

/** Text width the report wraps to: fits a standard 100-column terminal with the indent. */
const WIDTH = 96;

/**
 * The first word of the report: its verdict, or COULD NOT CHECK when the check could not finish
 * (exit 3) and found nothing that blocks: a review verdict there says "not pass", not "reviewed".
 */
function heading(report: Report, paint: (styles: (keyof typeof ANSI)[], text: string) => string): string {
  if (report.verdict !== "block" && couldNotFinish(report)) return paint(["bold", "red"], "COULD NOT CHECK");
  return paint(VERDICT_STYLE[report.verdict], report.verdict.toUpperCase().padEnd(7));
}

/** Vulnerabilities the text report lists one by one; the rest are counted. */
export const VULN_ITEMS_SHOWN = 10;

/** Counts, where they came from, then the worst items with installed -> fixed (as Trivy's table reads). */
function renderVulnerabilities(
  v: NonNullable<Report["vulnerabilities"]>,
  paint: (styles: (keyof typeof ANSI)[], text: string) => string,
): string[] {
  const c = v.counts;
  const out = [
    paint(["bold"], "Vulnerabilities"),
    `  ${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown`,
  ];
  const sources = v.sources.map(
    (s) =>
      `${s.kind}${s.scanner ? ` (${s.scanner}${s.scannedAt ? `, ${s.scannedAt.slice(0, 10)}` : ""})` : ""}${s.signedBy ? ` signed by ${s.signedBy}` : " unsigned"}`,
  );
  out.push(`  ${paint(["dim"], `from: ${sources.length ? sources.map(clean).join("; ") : "no source"}`)}`);
  const open = v.items.filter((i) => i.status === "affected" && !i.waived);
  for (const i of open.slice(0, VULN_ITEMS_SHOWN)) {
    const sev = i.severity === "unknown" ? "info" : i.severity;
    const fix = i.fixed ? `${clean(i.installed)} -> ${clean(i.fixed)}` : `${clean(i.installed)} (no fix yet)`;
    out.push(
      `  ${paint(SEVERITY_STYLE[sev], i.severity.padEnd(8))} ${clean(i.id).padEnd(20)} ${clean(i.package)} ${fix}`,
    );
  }
  if (open.length > VULN_ITEMS_SHOWN)
    out.push(`  ... and ${open.length - VULN_ITEMS_SHOWN} more (--json lists them all)`);
  const quiet = v.items.length - open.length;
  if (quiet > 0)
    out.push(`  ${paint(["dim"], `${quiet} not counted: waived, or not affected / fixed per VEX`)}`);
  return out;
}

/** Untrusted text made safe for a terminal. */
export function clean(text: string): string {
  return text.replace(TERMINAL_UNSAFE, "?");
}

/** The report as terminal text. */
export function renderReportText(report: Report, opts: RenderOptions): string {
  const paint = (styles: (keyof typeof ANSI)[], text: string) =>
    opts.color ? `${styles.map((s) => ANSI[s]).join("")}${text}${ANSI.reset}` : text;
  const out: string[] = [];
  const img = report.image;
  const name = `${img.registry}/${img.repository}${img.tag ? `:${img.tag}` : ""}`;

  out.push(`${heading(report, paint)} ${clean(name)}`);
  const meta = [
    img.digest ? img.digest : "digest unknown",
    img.platform,
    `checked ${report.checkedAt.replace("T", " ").replace(/\.\d+Z$/, " UTC")} in ${report.durationMs} ms`,
  ];
  if (report.policyVersion) meta.push(`policy ${report.policyVersion}`);
  out.push(`        ${paint(["dim"], meta.map(clean).join(" · "))}`);
  if (report.decidedBy?.length) out.push(`        decided by: ${report.decidedBy.map(clean).join(", ")}`);
  out.push("");

  const findings = [...report.findings].sort(
    (a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity),
  );
  out.push(paint(["bold"], `Findings (${findings.length})`));
  if (findings.length === 0) out.push("  none");
  const idWidth = Math.min(32, Math.max(0, ...findings.map((f) => f.id.length)));
  for (const f of findings) out.push(...renderFinding(f, idWidth, paint));
  out.push("");
  if (report.vulnerabilities) out.push(...renderVulnerabilities(report.vulnerabilities, paint), "");

  out.push(paint(["bold"], "Use this reference"));
  out.push(
    `  ${img.pinned ? clean(img.pinned) : "(no digest could be resolved: pin one once the image can be gathered)"}`,
  );

  if (report.run) {
    out.push("");
    out.push(paint(["bold"], "How to run it"));
    out.push(
      ...clean(report.run.dockerRun)
        .split("\n")
        .map((l) => `  ${l}`),
    );
    if (report.run.notes.length) {
      out.push("");
      for (const n of report.run.notes)
        out.push(...wrap(clean(n), WIDTH - 4).map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)));
    }
    out.push("");
    out.push("  As a compose service:");
    out.push(
      ...clean(report.run.compose)
        .trimEnd()
        .split("\n")
        .map((l) => `    ${l}`),
    );
  }
  return `${out.join("\n")}\n`;
}

function renderFinding(
  f: Finding,
  idWidth: number,
  paint: (styles: (keyof typeof ANSI)[], text: string) => string,
): string[] {
  const label = f.severity.toUpperCase().padEnd(8);
  const styles: (keyof typeof ANSI)[] = f.waived ? ["dim"] : SEVERITY_STYLE[f.severity];
  const lines = [`  ${paint(styles, label)}  ${f.id.padEnd(idWidth)}  ${clean(f.title)}`];
  const indent = " ".repeat(12);
  if (f.waived)
    lines.push(
      `${indent}${paint(["dim"], `waived until ${clean(f.waived.expires)}: ${clean(f.waived.reason)}`)}`,
    );
  for (const l of wrap(clean(f.detail), WIDTH - indent.length))
    lines.push(`${indent}${f.waived ? paint(["dim"], l) : l}`);
  return lines;
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}
