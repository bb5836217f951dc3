/**
 * `/image-check status REF`: the decision in force, the newest request and the latest report. Pure.
 */
import type { StatusAnswer } from "../../store/api.js";
import { clip, code, escapeSlack } from "../escape.js";
import { type Block, context, fallback, type Message, mention, section, slackDate } from "./blocks.js";
import { decisionLine, digestText, findingsText, verdictText } from "./common.js";

/** Findings in a status answer: the top few, the report has the rest. */
const STATUS_FINDINGS = 3;

/** The status of one reference. */
export function renderStatus(reference: string, answer: StatusAnswer): Message {
  const { request, decision, report } = answer;
  if (!request && !decision && !report) {
    return {
      text: fallback(`Nothing known about ${escapeSlack(reference)}`),
      blocks: [
        section(
          `Nothing is known here about ${code(reference)} yet. Run \`/image-check ${escapeSlack(reference)}\` to check it.`,
        ),
      ],
    };
  }
  const blocks: Block[] = [section(`*Status of* ${code(reference)}`)];
  const digest = decision?.digest ?? request?.digest ?? report?.image.digest ?? null;
  blocks.push(
    section(
      `*Digest* ${digestText(digest)}\n*Decision* ${decision ? decisionLine(decision) : "_none for this digest_"}`,
    ),
  );
  if (answer.watch) blocks.push(section(watchLine(answer.watch)));
  if (request) {
    blocks.push(
      context(
        `Newest request ${code(request.id)} by ${mention(request.requestedBy)} at ${slackDate(request.createdAt)}: ${code(request.status)}`,
      ),
    );
  }
  if (report) {
    blocks.push(
      section(
        `*Latest report* ${verdictText(report.verdict)} at ${slackDate(report.checkedAt)}\n${findingsText(report, STATUS_FINDINGS, false)}`,
      ),
    );
  }
  return { text: fallback(`Status of ${escapeSlack(reference)}`), blocks };
}

/** When the approval was last re-checked (`watch`) and what that found new since the approval. */
export function watchLine(w: NonNullable<StatusAnswer["watch"]>): string {
  if (!w.lastCheckedAt) return "*Re-checked* not yet";
  const when = `*Re-checked* ${slackDate(w.lastCheckedAt)}`;
  if (!w.changes?.length) return `${when}: nothing new since the approval`;
  const list = w.changes.map(
    (c) => `${code(c.id)} (${escapeSlack(c.severity)}): ${clip(escapeSlack(c.title), 200)}`,
  );
  return `${when}: :eyes: *needs another look*, new since the approval:\n${list.map((l) => `• ${l}`).join("\n")}`;
}
