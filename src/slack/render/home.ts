/**
 * The App Home tab: pending requests (with buttons for approvers) and recent decisions. Pure.
 * A Home view holds at most 100 blocks.
 */
import type { DecisionListItem, DecisionRecord, Page, RequestRecord } from "../../store/api.js";
import { code, escapeSlack } from "../escape.js";
import { COMMAND } from "../ids.js";
import type { NeedsAnotherLook } from "../service.js";
import {
  type Block,
  context,
  divider,
  header,
  LIMITS,
  linesWithin,
  section,
  slackDate,
  type View,
} from "./blocks.js";
import { decisionLine } from "./common.js";
import { type PendingVulnCounts, pendingBlocks } from "./pending.js";

/** Blocks kept for the sections after pending: needs another look and recent decisions (heading + lines each, notice room). */
const RECENT_RESERVE = 9;

/** What the Home tab shows to one user. */
export interface HomeInput {
  userId: string;
  isApprover: boolean;
  pending: Page<RequestRecord>;
  recent: Page<DecisionListItem>;
  /** A one-line note on top (e.g. why a click from Home was refused); already escaped. */
  notice?: string;
  /** Vulnerability counts of the pending requests' reports, by request id. */
  vulnerabilities?: PendingVulnCounts;
  /** Approvals a re-check (`watch`) found changes in; they stand, IT should look again. */
  needsAnotherLook?: NeedsAnotherLook[];
}

/** The Home tab view. */
export function renderHome(input: HomeInput): View {
  const top: Block[] = [header("image-check")];
  if (input.notice) top.push(section(input.notice));
  top.push(
    context(
      input.isApprover
        ? "You are an IT approver: decide pending requests here or in the IT channel."
        : `Check an image with \`${COMMAND} REF [reason]\` in any channel; IT decides what is not a pass.`,
    ),
    divider(),
    section("*Waiting for a decision*"),
  );
  const pendingRoom = LIMITS.viewBlocks - top.length - RECENT_RESERVE;
  const pending =
    input.pending.items.length === 0
      ? [context("Nothing is waiting. :tada:")]
      : pendingBlocks(input.pending, input, pendingRoom, input.vulnerabilities);
  const flagged = needsLookBlocks(input.needsAnotherLook ?? []);
  const decisions = input.recent.items.filter((d): d is DecisionRecord => d.status !== "pending");
  const recentLines = decisions.map((d) => `• ${code(d.reference)} — ${decisionLine(d)}`);
  const recent: Block[] = [
    divider(),
    section("*Recent decisions*"),
    recentLines.length ? section(linesWithin(recentLines)) : context("No decisions yet."),
  ];
  return { type: "home", blocks: [...top, ...pending, ...flagged, ...recent] };
}

/** "Needs another look": one line per flagged approval, with what its last re-check found. */
function needsLookBlocks(items: readonly NeedsAnotherLook[]): Block[] {
  if (items.length === 0) return [];
  const lines = items.map(
    (n) =>
      `• ${code(n.decision.reference)} — ${n.changes.map((c) => `${code(c.id)} (${escapeSlack(c.severity)})`).join(", ")}${n.lastCheckedAt ? ` — re-checked ${slackDate(n.lastCheckedAt)}` : ""}`,
  );
  return [
    divider(),
    section("*Needs another look* (approved, but a re-check found something new)"),
    section(linesWithin(lines)),
  ];
}

/** The notice shown on Home after a refused click there (no channel to answer in). */
export function homeNotice(text: string): string {
  return `:information_source: ${text}`;
}
