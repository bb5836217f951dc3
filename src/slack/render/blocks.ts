/**
 * Small Block Kit builders that enforce Slack's size limits, so no renderer can produce a message
 * Slack rejects. Limits: https://docs.slack.dev/reference/block-kit/blocks
 * Every mrkdwn object is `verbatim` (no auto-linking or mention parsing of what we did not mark up).
 */
import type { types as slack } from "@slack/bolt";
import { clip, escapeSlack, neutraliseBidi } from "../escape.js";

/** A Block Kit block as Slack's types describe it. */
export type Block = slack.KnownBlock;
/** A modal or Home tab view. */
export type View = slack.View;

/** A rendered message: fallback text (escaped like the blocks) and blocks. */
export interface Message {
  text: string;
  blocks: Block[];
}

/** Slack's limits, named once. */
export const LIMITS = {
  /** Blocks in a message. */
  messageBlocks: 50,
  /** Blocks in a Home tab or modal view. */
  viewBlocks: 100,
  /** Characters in a section's text. */
  sectionText: 3000,
  /** Characters in a header's plain text. */
  headerText: 150,
  /** Characters in a button's label. */
  buttonText: 75,
  /** Characters in a modal's title, submit and close labels. */
  modalTitle: 24,
  /** Elements in a context block. */
  contextElements: 10,
  /** Characters in one context element (Slack allows 3000; we keep them short for readability). */
  contextText: 3000,
  /** Fallback text shown in notifications: Slack truncates long ones, keep it short. */
  fallbackText: 300,
  /** Characters in a plain_text input's label or placeholder. */
  plainText: 150,
} as const;

/**
 * A mrkdwn text object; `text` must already be escaped where it holds untrusted parts. Bidi controls
 * are neutralised once more here, so no path to a message can carry one, escaped or not.
 */
export function mrkdwn(text: string, max: number = LIMITS.sectionText): slack.MrkdwnElement {
  return { type: "mrkdwn", text: clip(neutraliseBidi(text), max), verbatim: true };
}

/** A plain_text object from untrusted or trusted text, escaped and clipped to `max`. */
export function plain(text: string, max: number = LIMITS.plainText): slack.PlainTextElement {
  return { type: "plain_text", text: clip(escapeSlack(text), max), emoji: false };
}

/** A section of mrkdwn (already escaped), clipped to Slack's 3000 characters. */
export function section(text: string, extra: Partial<slack.SectionBlock> = {}): slack.SectionBlock {
  return { type: "section", text: mrkdwn(text), ...extra };
}

/** A header block (plain text, escaped here). */
export function header(text: string): slack.HeaderBlock {
  return { type: "header", text: plain(text, LIMITS.headerText) };
}

/** A context block of mrkdwn elements (already escaped). */
export function context(...texts: string[]): slack.ContextBlock {
  return {
    type: "context",
    elements: texts.slice(0, LIMITS.contextElements).map((t) => mrkdwn(t, LIMITS.contextText)),
  };
}

/** A divider. */
export function divider(): slack.DividerBlock {
  return { type: "divider" };
}

/** A button; `value` carries an id only, never text for display. */
export function button(
  label: string,
  actionId: string,
  value: string,
  style?: "primary" | "danger",
): slack.Button {
  return {
    type: "button",
    text: plain(label, LIMITS.buttonText),
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

/** An actions block. `blockId` lets listeners tell apart several requests in one view. */
export function actions(elements: slack.Button[], blockId?: string): slack.ActionsBlock {
  return { type: "actions", elements, ...(blockId ? { block_id: blockId } : {}) };
}

/**
 * Items joined as lines into one mrkdwn text that fits a section: as many as fit, then
 * "…and N more", where N counts the items left out plus `hidden` (items the caller never passed).
 * Items must already be escaped.
 */
export function linesWithin(items: string[], max: number = LIMITS.sectionText, hidden = 0): string {
  const more = (n: number) => `_…and ${n} more_`;
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    const line = items[i]!;
    const left = items.length - i - 1 + hidden;
    const reserve = left > 0 ? more(left + 1).length + 1 : 0;
    if (used + line.length + 1 + reserve > max) {
      out.push(more(items.length - i + hidden));
      return out.join("\n");
    }
    out.push(line);
    used += line.length + 1;
  }
  if (hidden > 0) out.push(more(hidden));
  return out.join("\n");
}

/**
 * Cut a list of block groups so the total stays within `maxBlocks`, replacing what is left out with
 * one context line "…and N more" (plus an optional hint such as how to see them).
 */
export function blocksWithin(
  fixed: Block[],
  groups: Block[][],
  maxBlocks: number,
  more: (left: number) => string = (left) => `_…and ${left} more_`,
): Block[] {
  const out = [...fixed];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    const left = groups.length - i;
    // Keep room for the "and N more" line unless this is the last group.
    const reserve = i === groups.length - 1 ? 0 : 1;
    if (out.length + group.length + reserve > maxBlocks) {
      out.push(context(more(left)));
      return out;
    }
    out.push(...group);
  }
  return out;
}

/** Fallback text for notifications: escaped pieces joined, clipped. */
export function fallback(text: string): string {
  return clip(neutraliseBidi(text).replace(/\s+/g, " ").trim(), LIMITS.fallbackText);
}

/** Slack's date formatting: shows in the reader's time zone, falls back to the UTC text. https://docs.slack.dev/messaging/formatting-message-text#date-formatting */
export function slackDate(iso: string, format = "{date_short_pretty} {time}"): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return escapeSlack(iso);
  const seconds = Math.floor(d.getTime() / 1000);
  const utc = d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  return `<!date^${seconds}^${format}|${utc}>`;
}

/** A user mention from a Slack user id we received from Slack itself (validated shape, never user text). */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : escapeSlack(userId);
}
