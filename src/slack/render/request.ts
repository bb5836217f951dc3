/**
 * The IT channel's approval request, the same message once decided, and the requester's DM. Pure.
 */
import type { Report } from "../../checks/report.js";
import type { DecisionRecord, RequestRecord } from "../../store/api.js";
import { code, escapeSlack } from "../escape.js";
import { ACTION } from "../ids.js";
import {
  actions,
  type Block,
  blocksWithin,
  button,
  context,
  fallback,
  LIMITS,
  type Message,
  mention,
  section,
  slackDate,
} from "./blocks.js";
import {
  decisionLine,
  digestText,
  findingsText,
  imageName,
  verdictText,
  vulnerabilitiesText,
} from "./common.js";

/** Findings in the IT message: the summary, not the whole report. */
const IT_FINDINGS = 6;
/** Vulnerabilities the approver sees with their fixed versions (the rest are counted). */
const IT_VULNS = 5;

/** The block id of a request's buttons, so several requests can share one view (Home, pending). */
export function requestBlockId(requestId: string): string {
  return `request:${requestId}`;
}

/** Approve / Reject buttons; each value is the request id and nothing else (contract). */
export function decisionButtons(requestId: string): Block {
  return actions(
    [
      button("Approve", ACTION.approve, requestId, "primary"),
      button("Reject", ACTION.reject, requestId, "danger"),
    ],
    requestBlockId(requestId),
  );
}

function requestBlocks(
  request: RequestRecord,
  report: Report | null,
  previous?: DecisionRecord | null,
): Block[] {
  const reason = request.reason ? escapeSlack(request.reason) : "_none given_";
  const blocks: Block[] = [
    section(`${mention(request.requestedBy)} asks to use ${code(request.reference)}\n*Reason:* ${reason}`),
    section(
      [
        `*Image* ${imageName(request)}`,
        `*Digest* ${digestText(request.digest)}`,
        `*Verdict* ${request.verdict ? verdictText(request.verdict) : "_not checked_"}`,
      ].join("\n"),
    ),
  ];
  if (report) blocks.push(section(`*Summary*\n${findingsText(report, IT_FINDINGS, false)}`));
  const vulns = report ? vulnerabilitiesText(report, IT_VULNS) : null;
  if (vulns) blocks.push(section(vulns));
  if (previous) blocks.push(context(`Previously for this digest: ${decisionLine(previous)}`));
  blocks.push(context(`Request ${code(request.id)} · asked ${slackDate(request.createdAt)}`));
  return blocks;
}

/** The approval request posted to the IT channel, with both buttons. */
export function renderItRequest(
  request: RequestRecord,
  report: Report | null,
  previous?: DecisionRecord | null,
): Message {
  return {
    text: fallback(
      `Approval requested by ${mention(request.requestedBy)}: ${escapeSlack(request.reference)}`,
    ),
    blocks: blocksWithin(
      requestBlocks(request, report, previous),
      [[decisionButtons(request.id)]],
      LIMITS.messageBlocks,
    ),
  };
}

/** The IT message after the decision: the buttons are gone, the decision is shown. */
export function renderItDecided(
  request: RequestRecord,
  report: Report | null,
  decision: DecisionRecord,
): Message {
  return {
    text: fallback(
      `${decision.decision === "approved" ? "Approved" : "Rejected"}: ${escapeSlack(request.reference)}`,
    ),
    blocks: blocksWithin(
      requestBlocks(request, report),
      [[section(decisionLine(decision))]],
      LIMITS.messageBlocks,
    ),
  };
}

/** The direct message to the requester once IT decided. */
export function renderDecisionDm(
  request: RequestRecord,
  decision: DecisionRecord,
  pinned?: string | null,
): Message {
  const approved = decision.decision === "approved";
  const lines = [
    `${approved ? "IT approved" : "IT rejected"} your request for ${code(request.reference)}.`,
    decisionLine(decision),
  ];
  if (approved)
    lines.push(
      `Use it pinned to the approved digest: ${code(pinned ?? `${request.repository}@${decision.digest}`)}`,
    );
  else lines.push("Ask in the IT channel if you think this is wrong, or pick another image.");
  return {
    text: fallback(`${approved ? "Approved" : "Rejected"}: ${escapeSlack(request.reference)}`),
    blocks: [section(lines.join("\n"))],
  };
}
