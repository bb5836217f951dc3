/** The one way a check builds a finding: category and default severity come from the CHECKS table. */
import { CHECKS, type CheckId, type Finding } from "./types.js";

/** A finding of `id` with its contract category and default severity (the policy adjusts it later). */
export function finding(
  id: CheckId,
  title: string,
  detail: string,
  evidence: Record<string, unknown> = {},
): Finding {
  const def = CHECKS[id];
  return { id, category: def.category, severity: def.severity, title, detail, evidence };
}

/** `n thing` or `n things`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A readable list: `a`, `a and b`, `a, b and c`. */
export function listing(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** Shorten text for a title or evidence line, keeping the start. */
export function clip(text: string, max = 200): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
