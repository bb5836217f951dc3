/**
 * `/image-check history REPO`: every decision on a repository, newest first, cut to fit. Pure.
 */
import type { DecisionRecord, Page } from "../../store/api.js";
import { code, escapeSlack } from "../escape.js";
import { fallback, LIMITS, linesWithin, type Message, section } from "./blocks.js";
import { decisionLine } from "./common.js";

/** Characters of a digest shown in a history line: enough to tell digests apart. */
const SHORT_DIGEST = 19;

/** One decision as a history line. */
function historyLine(d: DecisionRecord): string {
  const digest = d.digest.length > SHORT_DIGEST ? `${d.digest.slice(0, SHORT_DIGEST)}…` : d.digest;
  return `• ${code(d.reference)} ${code(digest)} — ${decisionLine(d)}`;
}

/** The history of a repository; when the store has more than one page, says so. */
export function renderHistory(repository: string, page: Page<DecisionRecord>): Message {
  if (page.items.length === 0) {
    return {
      text: fallback(`No decisions on ${escapeSlack(repository)}`),
      blocks: [section(`No decisions on ${code(repository)} yet.`)],
    };
  }
  const lines = page.items.map(historyLine);
  let text = linesWithin(lines, LIMITS.sectionText - 200);
  if (page.next) text += "\n_Older decisions: `image-check decisions --image` on the server lists them all._";
  return {
    text: fallback(`Decisions on ${escapeSlack(repository)}`),
    blocks: [section(`*Decisions on* ${code(repository)}, newest first`), section(text)],
  };
}
