/**
 * What the requester sees: "checking…" at once, then the report with what happens next. Pure.
 */
import type { Report } from "../../checks/report.js";
import type { DecisionRecord } from "../../store/api.js";
import { code, codeBlock, escapeSlack } from "../escape.js";
import { ACTION } from "../ids.js";
import {
  actions,
  type Block,
  blocksWithin,
  button,
  context,
  divider,
  fallback,
  LIMITS,
  linesWithin,
  type Message,
  section,
  slackDate,
} from "./blocks.js";
import { decisionLine, findingsText, incompleteReason, verdictText, vulnerabilitiesText } from "./common.js";

/** Findings shown in the requester's report before "…and N more". */
const REPORT_FINDINGS = 8;
/** Worst vulnerabilities listed with their fixed versions (the rest are counted). */
const REPORT_VULNS = 5;
/** Labels shown before "…and N more": enough to see the source and version labels. */
const REPORT_LABELS = 12;
/** Characters of one label value: labels can hold whole documents. */
const LABEL_VALUE_MAX = 200;

/** The ephemeral answer to `/image-check REF`, sent with the acknowledgement. */
export function renderChecking(reference: string): Message {
  return {
    text: fallback(`Checking ${escapeSlack(reference)}…`),
    blocks: [
      section(`:hourglass_flowing_sand: Checking ${code(reference)}… the report replaces this message.`),
    ],
  };
}

/**
 * The ephemeral answer to `/image-check REF` when the requester already has `inFlight` checks
 * queued or running and the policy's `limits.perUserInFlight` is `limit`: nothing was recorded.
 */
export function renderInFlightLimit(reference: string, inFlight: number, limit: number): Message {
  const checks = inFlight === 1 ? "1 check" : `${inFlight} checks`;
  return {
    text: fallback(`Not checked: you already have ${checks} queued or running (the limit is ${limit}).`),
    blocks: [
      section(
        `:raised_hand: ${code(reference)} was not checked: you already have ${checks} queued or running, and the policy allows ${limit} per person at once (\`limits.perUserInFlight\`). Nothing was recorded; try again when one of them has finished.`,
      ),
    ],
  };
}

/** What happened to the request after the check, shown under the report. */
export type ReportOutcome =
  /** The policy approved a `pass` automatically. */
  | { kind: "auto-approved"; decision: DecisionRecord }
  /** This request was decided before the report reached the requester (from the pending list). */
  | { kind: "decided"; decision: DecisionRecord }
  /** This digest already has an approval in force; the request stands on it. */
  | { kind: "already-approved"; decision: DecisionRecord }
  /** This digest was rejected, and the rejection stands; the requester may ask IT to look again. */
  | { kind: "already-rejected"; requestId: string; decision: DecisionRecord }
  /** The request went to the IT channel. */
  | { kind: "sent-to-it"; requestId: string; previous?: DecisionRecord | null }
  /** Not a pass and no reason yet: ask for one before IT sees it. */
  | { kind: "needs-reason"; requestId: string; previous?: DecisionRecord | null }
  /** The image could not be resolved: there is nothing to approve. */
  | { kind: "failed"; error: { code: string; message: string } };

/** The report for the requester, with the outcome (≤ 50 blocks, sections ≤ 3000 characters). */
export function renderReport(report: Report, outcome: ReportOutcome): Message {
  // A person's standing rejection outranks the check's verdict: the reply leads with it (a green
  // "pass" above it read as permission) and offers no run line for the rejected digest.
  const rejected = outcome.kind === "already-rejected";
  const headline = rejected
    ? `:x: *rejected* for ${code(report.reference)} (the check's verdict: ${report.verdict})`
    : `${verdictText(report.verdict)} for ${code(report.reference)}`;
  const blocks: Block[] = [
    section(headline),
    section(imageFacts(report)),
    section(`*Findings*\n${findingsText(report, REPORT_FINDINGS)}`),
  ];
  const vulns = vulnerabilitiesText(report, REPORT_VULNS);
  if (vulns) blocks.push(section(vulns));
  if (report.run?.dockerRun && !rejected)
    blocks.push(section(`*Run it with least privilege*\n${codeBlock(report.run.dockerRun)}`));
  const labels = labelsText(report.facts.labels);
  if (labels) blocks.push(section(`*Labels* (as the image states them)\n${labels}`));
  blocks.push(
    context(
      `Checked at ${slackDate(report.checkedAt)} in ${report.durationMs} ms${report.policyVersion ? ` · policy ${code(report.policyVersion)}` : ""}`,
    ),
    divider(),
  );
  const next = outcomeBlocks(report, outcome);
  return {
    text: fallback(`image-check ${rejected ? "rejected" : report.verdict}: ${escapeSlack(report.reference)}`),
    blocks: blocksWithin(blocks, [next], LIMITS.messageBlocks),
  };
}

function imageFacts(report: Report): string {
  const img = report.image;
  const name = `${img.registry}/${img.repository}${img.tag ? `:${img.tag}` : ""}`;
  const lines = [`*Image* ${code(name)} (${code(img.platform)})`];
  if (img.digest) lines.push(`*Digest* ${code(img.digest)}`);
  if (img.pinned) lines.push(`*Pinned reference* ${code(img.pinned)}`);
  return lines.join("\n");
}

function labelsText(labels: Record<string, string>): string | null {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return null;
  const lines = entries
    .slice(0, REPORT_LABELS)
    .map(
      ([k, v]) =>
        `• ${code(k)} = ${code(v.length > LABEL_VALUE_MAX ? `${v.slice(0, LABEL_VALUE_MAX)}…` : v)}`,
    );
  return linesWithin(lines, LIMITS.sectionText, Math.max(0, entries.length - REPORT_LABELS));
}

function previousText(previous: DecisionRecord | null | undefined): string {
  return previous ? `\nPreviously: ${decisionLine(previous)}` : "";
}

function outcomeBlocks(report: Report, outcome: ReportOutcome): Block[] {
  switch (outcome.kind) {
    case "auto-approved":
      return [section(`${decisionLine(outcome.decision)}\nUse the pinned reference above.`)];
    case "decided":
      return [section(`IT already decided: ${decisionLine(outcome.decision)}`)];
    case "already-approved":
      return [
        section(
          `This digest is already approved: ${decisionLine(outcome.decision)}\nNo new approval is needed; use the pinned reference above.`,
        ),
      ];
    case "already-rejected":
      return [
        section(
          `This digest was already rejected, and the rejection stands: ${decisionLine(outcome.decision)}\nIf something changed (a fix, a new reason), ask IT to look at it again.`,
        ),
        actions([button("Ask IT to reconsider…", ACTION.requestApproval, outcome.requestId)]),
      ];
    case "sent-to-it":
      return [
        section(
          `:inbox_tray: Sent to IT for approval (verdict ${report.verdict}). You will get a direct message when someone decides.${previousText(outcome.previous)}`,
        ),
      ];
    case "needs-reason":
      return [
        section(
          `This image needs IT approval (verdict ${report.verdict}). Tell IT why you need it, and the request goes to them.${previousText(outcome.previous)}`,
        ),
        actions([button("Request approval…", ACTION.requestApproval, outcome.requestId, "primary")]),
      ];
    case "failed": {
      const why = incompleteReason(report) ?? `${outcome.error.code}: ${outcome.error.message}`;
      return [
        section(
          `:warning: Nothing to approve: the image could not be checked (${escapeSlack(why)}).\nFix the reference or the registry access and run the command again.`,
        ),
      ];
    }
  }
}

/** The requester's answer when the check failed before any report existed (e.g. the job gave up). */
export function renderCheckFailed(reference: string, error: { code: string; message: string }): Message {
  return {
    text: fallback(`Could not check ${escapeSlack(reference)}`),
    blocks: [
      section(
        `:warning: Could not check ${code(reference)}: ${code(error.code)} ${escapeSlack(error.message)}\nIt cannot be approved until a check succeeds; run the command again.`,
      ),
    ],
  };
}

/** A one-section ephemeral note (errors, refusals, confirmations); `text` must already be escaped. */
export function renderNote(text: string): Message {
  return { text: fallback(text), blocks: [section(text)] };
}
