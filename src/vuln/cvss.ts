/**
 * CVSS v3.0 / v3.1 base score from a vector string, and the qualitative band of a score
 * (https://www.first.org/cvss/v3.1/specification-document, sections 7.1, 7.4 and 5).
 * Used when a source gives a vector but no score (OSV records carry only vectors).
 */
import type { VulnSeverity } from "./types.js";

const WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

/** Privileges Required weighs more when the scope changes (spec 7.4). */
function privileges(value: string, changed: boolean): number | undefined {
  if (value === "N") return 0.85;
  if (value === "L") return changed ? 0.68 : 0.62;
  if (value === "H") return changed ? 0.5 : 0.27;
  return undefined;
}

/**
 * Round up to one decimal as the v3.1 spec's Appendix A defines it: integer arithmetic, so
 * 4.000000001 does not become 4.1 through floating point noise.
 */
export function roundUp(value: number): number {
  const int = Math.round(value * 100000);
  return int % 10000 === 0 ? int / 100000 : (Math.floor(int / 10000) + 1) / 10;
}

/** The base score of a `CVSS:3.x/AV:../AC:../...` vector, or null when it is not one. */
export function cvss3BaseScore(vector: string): number | null {
  if (vector.length > 200) return null;
  const parts = vector.split("/");
  if (!/^CVSS:3\.[01]$/.test(parts[0] ?? "")) return null;
  const m: Record<string, string> = {};
  for (const part of parts.slice(1)) {
    const [k, v, extra] = part.split(":");
    if (!k || !v || extra !== undefined || Object.hasOwn(m, k)) return null;
    m[k] = v;
  }
  const get = <T extends Record<string, number>>(table: T, key: string): number | undefined =>
    Object.hasOwn(table, m[key] ?? "") ? table[m[key] as keyof T] : undefined;
  const scope = m.S;
  if (scope !== "U" && scope !== "C") return null;
  const changed = scope === "C";
  const av = get(WEIGHTS.AV, "AV");
  const ac = get(WEIGHTS.AC, "AC");
  const ui = get(WEIGHTS.UI, "UI");
  const pr = privileges(m.PR ?? "", changed);
  const c = get(WEIGHTS.CIA, "C");
  const i = get(WEIGHTS.CIA, "I");
  const a = get(WEIGHTS.CIA, "A");
  if (av === undefined || ac === undefined || ui === undefined || pr === undefined) return null;
  if (c === undefined || i === undefined || a === undefined) return null;

  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  return changed
    ? roundUp(Math.min(1.08 * (impact + exploitability), 10))
    : roundUp(Math.min(impact + exploitability, 10));
}

/** The qualitative band of a CVSS score (spec section 5); 0 (None) has no band here: unknown. */
export function bandOf(score: number): VulnSeverity {
  if (score >= 9) return "critical";
  if (score >= 7) return "high";
  if (score >= 4) return "medium";
  if (score > 0) return "low";
  return "unknown";
}

/** A severity word as scanners write it (`CRITICAL`, `High`, `moderate`, `negligible`), or unknown. */
export function severityWord(word: unknown): VulnSeverity {
  if (typeof word !== "string") return "unknown";
  switch (word.trim().toLowerCase()) {
    case "critical":
      return "critical";
    case "high":
    case "important":
      return "high";
    case "medium":
    case "moderate":
      return "medium";
    case "low":
    case "negligible":
      return "low";
    default:
      return "unknown";
  }
}
