/**
 * Characters that must never reach a terminal from untrusted text (image labels, history, registry
 * errors, Slack reasons): C0 controls (tab included: it breaks columns), DEL, C1
 * controls, line/paragraph separators, and the bidirectional overrides and isolates that can make
 * text display in another order than it is (CVE-2021-42574, "Trojan Source": U+202A-202E, U+2066-2069,
 * and the marks U+200E, U+200F, U+061C). Newline is kept.
 */
export const TERMINAL_UNSAFE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Same, newline included: for text that must stay on one line. */
export const TERMINAL_UNSAFE_INLINE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Untrusted text made printable on one line: every unsafe character shown as its escape (`\x1b`,
 * `\u202e`), so a reader sees that it was there. For error lines and the `inspect` summary.
 */
export function printable(text: string): string {
  return text.replace(TERMINAL_UNSAFE_INLINE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Untrusted text made printable, line breaks kept: every other unsafe character shown as its escape,
 * as `printable` does. For output whose own format carries line breaks (GitHub's `%0A`, JSON).
 */
export function printableKeepingLines(text: string): string {
  return text.replace(TERMINAL_UNSAFE_INLINE, (c) => (c === "\n" || c === "\r" ? c : printable(c)));
}

/**
 * A writer of text made of lines that shows each line through `printable`: for log lines, which
 * quote registries, images and Slack users as errors do.
 */
export function printableLines(write: (text: string) => void): (text: string) => void {
  return (text) => write(text.split("\n").map(printable).join("\n"));
}
