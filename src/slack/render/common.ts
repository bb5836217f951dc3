/**
 * Pieces shared by the renderers: verdicts, finding lines, image names and decision lines. Every
 * string that came from an image, a registry, the store or a user goes through `escapeSlack`/`code`.
 */
import type { Report, Verdict } from "../../checks/report.js";
import type { Finding } from "../../checks/types.js";
import { severityRank } from "../../checks/types.js";
import type { DecisionRecord, RequestRecord } from "../../store/api.js";
import { isPersonDecision } from "../../store/decisions.js";
import { code, escapeSlack } from "../escape.js";
import { linesWithin, mention, slackDate } from "./blocks.js";

const VERDICT_ICON: Record<Verdict, string> = {
  pass: ":large_green_circle:",
  review: ":large_orange_circle:",
  block: ":red_circle:",
};

/** `:icon: *review*` for a verdict. */
export function verdictText(verdict: Verdict): string {
  return `${VERDICT_ICON[verdict]} *${verdict}*`;
}

/** Findings that count first, most severe first; waived ones last. Stable within a severity. */
export function rankedFindings(findings: Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => {
      const waived = Number(Boolean(a.f.waived)) - Number(Boolean(b.f.waived));
      if (waived !== 0) return waived;
      return severityRank(b.f.severity) - severityRank(a.f.severity) || a.i - b.i;
    })
    .map(({ f }) => f);
}

/** One finding as a bullet line: severity, id, title and detail, all escaped. */
export function findingLine(f: Finding, withDetail = true): string {
  const head = `• *${f.severity}* ${code(f.id)} ${escapeSlack(f.title)}`;
  const detail = withDetail && f.detail ? ` — ${escapeSlack(f.detail)}` : "";
  const waived = f.waived
    ? ` _(waived until ${escapeSlack(f.waived.expires)}: ${escapeSlack(f.waived.reason)})_`
    : "";
  return (head + detail + waived).replace(/\s*\n\s*/g, " ");
}

/**
 * The findings worth showing (everything above info, or the first few infos when nothing else),
 * as lines that fit one section, cut with "…and N more".
 */
export function findingsText(report: Report, max: number, withDetail = true): string {
  const ranked = rankedFindings(report.findings);
  const notable = ranked.filter((f) => f.severity !== "info" || f.id === "check.incomplete");
  const shown = (notable.length > 0 ? notable : ranked).slice(0, max);
  if (shown.length === 0) return "_No findings._";
  return linesWithin(
    shown.map((f) => findingLine(f, withDetail)),
    undefined,
    report.findings.length - shown.length,
  );
}

/** `registry/repository:tag` of a request, as a code span. */
export function imageName(request: Pick<RequestRecord, "repository" | "tag">): string {
  return code(request.tag ? `${request.repository}:${request.tag}` : request.repository);
}

/** A digest as a code span, or a note that it is unknown. */
export function digestText(digest: string | null | undefined): string {
  return digest ? code(digest) : "_unknown (the image could not be resolved)_";
}

/** Who decided: a mention, or "policy (pass)" for an automatic approval. */
export function deciderText(decidedBy: string): string {
  return isPersonDecision({ decidedBy }) ? mention(decidedBy) : "policy (automatic approval of a pass)";
}

/** "Approved by @x at …, valid until …" / "Rejected by @x at …: reason" / "expired …" / "revoked by watch …". */
export function decisionLine(d: DecisionRecord, withReason = true): string {
  const by = deciderText(d.decidedBy);
  if (d.status === "revoked") {
    const why = withReason && d.reason ? `: ${escapeSlack(d.reason)}` : "";
    return `:no_entry: Approval *revoked* by ${by} (approved at ${slackDate(d.decidedAt)})${why}`;
  }
  if (d.decision === "approved") {
    const until = d.expiresAt ? `, valid until ${slackDate(d.expiresAt, "{date_short_pretty}")}` : "";
    const lead = d.status === "expired" ? ":hourglass: Approval *expired*:" : ":white_check_mark: *Approved*";
    return `${lead} by ${by} at ${slackDate(d.decidedAt)}${until}`;
  }
  const reason = withReason && d.reason ? `: ${escapeSlack(d.reason)}` : "";
  return `:x: *Rejected* by ${by} at ${slackDate(d.decidedAt)}${reason}`;
}

/** Why the check could not finish (`CODE: message`), from its `check.incomplete` finding (if any). */
export function incompleteReason(report: Report | null): string | null {
  const f = report?.findings.find((x) => x.id === "check.incomplete");
  if (!f) return null;
  const { code: errorCode, message } = f.evidence as { code?: unknown; message?: unknown };
  if (typeof errorCode === "string" && typeof message === "string") return `${errorCode}: ${message}`;
  return f.title;
}

/**
 * The vulnerability counts and the worst open items with their fixed versions, as one section's
 * text; null when the report has no vulnerability data field (the policy turned it off).
 */
export function vulnerabilitiesText(report: Report, top: number): string | null {
  const v = report.vulnerabilities;
  if (!v) return null;
  const c = v.counts;
  const counts = `${c.critical} critical · ${c.high} high · ${c.medium} medium · ${c.low} low · ${c.unknown} unknown`;
  const from = v.sources.length
    ? v.sources
        .map(
          (s) =>
            `${escapeSlack(s.kind)}${s.scanner ? ` (${escapeSlack(s.scanner)})` : ""}${s.signedBy ? ` signed by ${escapeSlack(s.signedBy)}` : ", unsigned"}`,
        )
        .join("; ")
    : "no source";
  const open = v.items.filter((i) => i.status === "affected" && !i.waived);
  const lines = open
    .slice(0, top)
    .map(
      (i) =>
        `• *${i.severity}* ${code(i.id)} ${escapeSlack(i.package)} ${code(i.installed || "?")} → ${i.fixed ? code(i.fixed) : "_no fix yet_"}`,
    );
  return linesWithin(
    [`*Vulnerabilities* ${counts}`, `_from: ${from}_`, ...lines],
    undefined,
    Math.max(0, open.length - top),
  );
}
