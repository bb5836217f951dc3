/**
 * The one place untrusted text is made inert before it reaches Slack (STYLE.md, convention 6).
 *
 * Slack's mrkdwn gives meaning to exactly three characters: `&`, `<` and `>`. Every control sequence
 * that can ping people or disguise a link (`<!channel>`, `<!here>`, `<@U123>`, `<!subteam^S1>`,
 * `<https://evil|ok>`) starts with `<`, so escaping those three turns any of them into plain text.
 * https://docs.slack.dev/messaging/formatting-message-text#escaping
 *
 * Renderers also set `verbatim: true` on mrkdwn objects so Slack does not auto-link bare URLs or
 * channel names, and never set `link_names`.
 */

/**
 * Bidirectional controls, which make text display in another order than it is (CVE-2021-42574,
 * "Trojan Source"): embeddings and overrides U+202A-202E, isolates U+2066-2069, and the marks
 * U+200E, U+200F and U+061C. Slack shows them as they are, in code spans too.
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Bidi controls shown as their escapes (`\u202e`), so a reader sees they were there and text keeps its order. */
export function neutraliseBidi(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Escape `&`, `<` and `>` (what Slack asks) so untrusted text is shown, never parsed; bidi controls
 * are shown as escapes.
 */
export function escapeSlack(text: string): string {
  return neutraliseBidi(text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"));
}

// A modifier letter grave accent looks like a backtick but does not open or close a code span.
const INERT_BACKTICK = "\u02cb";

/**
 * Untrusted text inside an inline code span: escaped, newlines folded, and backticks replaced so the
 * text cannot close the span early and smuggle formatting (or a fake ``` block) out of it.
 */
export function code(text: string): string {
  const inner = escapeSlack(text)
    .replace(/`/g, INERT_BACKTICK)
    .replace(/\s*[\r\n]+\s*/g, " ");
  return inner.trim() === "" ? "` `" : `\`${inner}\``;
}

/** Untrusted text inside a ``` block: escaped, with backticks made inert so the block cannot be closed early. */
export function codeBlock(text: string): string {
  return "```" + escapeSlack(text).replace(/`/g, INERT_BACKTICK) + "```";
}

/**
 * Cut already-escaped text to at most `max` characters, ending with "…" when cut, never in the
 * middle of an `&amp;`-style entity (which would show its pieces).
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - 1);
  const amp = text.lastIndexOf("&", cut);
  if (amp !== -1 && amp > cut - 6 && !text.slice(amp, cut).includes(";")) cut = amp;
  return text.slice(0, cut) + "…";
}
