/**
 * Characters that must never reach a terminal from untrusted text (image labels, history, registry
 * errors, Slack reasons): C0 controls (tab included: it breaks columns), DEL, C1
 * controls, line/paragraph separators, and the bidirectional overrides and isolates that can make
 * text display in another order than it is (CVE-2021-42574, "Trojan Source"). Newline is kept.
 */
export const TERMINAL_UNSAFE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Same, newline included: for text that must stay on one line. */
export const TERMINAL_UNSAFE_INLINE =
  /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
