/**
 * `/image-check pending`: requests waiting for IT, with the decision buttons for approvers. Pure.
 */
import type { Page, RequestRecord } from "../../store/api.js";
import type { VulnerabilityReport } from "../../vuln/types.js";
import { escapeSlack } from "../escape.js";
import {
  type Block,
  blocksWithin,
  context,
  fallback,
  LIMITS,
  type Message,
  mention,
  section,
  slackDate,
} from "./blocks.js";
import { imageName, verdictText } from "./common.js";
import { decisionButtons } from "./request.js";

/** Vulnerability counts of each pending request's report, by request id (App Home shows them). */
export type PendingVulnCounts = Readonly<Record<string, VulnerabilityReport["counts"]>>;

/** One pending request as a section (and its buttons for approvers, except on their own requests). */
export function pendingGroup(
  request: RequestRecord,
  viewer: { userId: string; isApprover: boolean },
  vulns?: PendingVulnCounts,
): Block[] {
  const reason = request.reason ? escapeSlack(request.reason) : "_no reason yet_";
  const verdict = request.verdict ? verdictText(request.verdict) : "_checking_";
  const c = vulns && Object.hasOwn(vulns, request.id) ? vulns[request.id] : undefined;
  const counts = c
    ? `\n*Vulnerabilities:* ${c.critical} critical · ${c.high} high · ${c.medium} medium · ${c.low} low`
    : "";
  const text = `${imageName(request)} ${verdict} — ${mention(request.requestedBy)}, ${slackDate(request.createdAt)}\n*Reason:* ${reason}${counts}`;
  const canDecide = viewer.isApprover && viewer.userId !== request.requestedBy;
  return canDecide ? [section(text), decisionButtons(request.id)] : [section(text)];
}

/** The pending list, cut with "…and N more" to fit `maxBlocks` (counting the store's next page as more). */
export function pendingBlocks(
  page: Page<RequestRecord>,
  viewer: { userId: string; isApprover: boolean },
  maxBlocks: number,
  vulns?: PendingVulnCounts,
): Block[] {
  const groups = page.items.map((r) => pendingGroup(r, viewer, vulns));
  const plus = page.next ? "+" : "";
  const out = blocksWithin(
    [],
    groups,
    maxBlocks - (page.next ? 1 : 0),
    (left) => `_…and ${left}${plus} more pending_`,
  );
  if (page.next && out.length === groups.flat().length) out.push(context("_…and more pending_"));
  return out;
}

/**
 * The answer to `/image-check pending`. `viewer.unverified`: Slack could not say in time whether the
 * viewer is an approver, so the list comes without buttons and says so.
 */
export function renderPending(
  page: Page<RequestRecord>,
  viewer: { userId: string; isApprover: boolean; unverified?: boolean },
): Message {
  if (page.items.length === 0) {
    return {
      text: "Nothing is waiting for a decision.",
      blocks: [section("Nothing is waiting for a decision. :tada:")],
    };
  }
  const who = viewer.unverified
    ? " — could not verify that you are an approver right now, so no buttons: try again in a moment"
    : viewer.isApprover
      ? ""
      : " — only IT approvers can decide";
  const head = section(`*Waiting for a decision* (newest first)${who}`);
  return {
    text: fallback(`${page.items.length}${page.next ? "+" : ""} requests waiting for a decision`),
    blocks: [head, ...pendingBlocks(page, viewer, LIMITS.messageBlocks - 1)],
  };
}
