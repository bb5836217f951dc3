/**
 * The verdict: a policy applied to findings (../shared/CONTRACT.md, "Verdict"). Pure.
 *
 * 1. `checks.severity` overrides a finding's severity by id; `checks.disabled` removes it.
 * 2. An exception (check id + image glob, until its `expires` date, inclusive, in UTC) marks a
 *    finding `waived`: it stays in the report and does not count.
 * 3. block if any counted finding is at or above `blockAt`; review if at or above `reviewAt`;
 *    else pass.
 * `check.incomplete` is the exception to all three: it is never removed or waived, and it makes
 * the verdict at least review whatever its severity, because a check that could not finish must
 * never pass.
 */
import { createHash } from "node:crypto";
import type { Verdict } from "../checks/report.js";
import { type Finding, severityRank } from "../checks/types.js";
import { matchingGlob } from "./glob.js";
import type { Policy } from "./schema.js";

/** Findings as the policy sees them, the verdict, and the ids that decided it. */
export interface Evaluation {
  /** Severity overrides applied, disabled checks removed, exceptions marked `waived`; most severe first. */
  findings: Finding[];
  verdict: Verdict;
  /** Ids of the findings that decided the verdict, most severe first (empty for pass). */
  decidedBy: string[];
}

/** The image a verdict is about, for exception globs. */
export interface EvaluatedImage {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const INCOMPLETE = "check.incomplete";

/** Apply `policy` to `findings` for `image` at time `now`. */
export function evaluate(
  findings: readonly Finding[],
  policy: Policy,
  image: EvaluatedImage,
  now: Date,
): Evaluation {
  const judged = judgeFindings(findings, policy, image, now);
  // Most severe first; the sort is stable, so checks keep their order within a severity.
  judged.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));

  const counted = judged.filter((f) => !f.waived);
  const atLeast = (s: Policy["verdict"]["blockAt"]) =>
    counted.filter((f) => severityRank(f.severity) >= severityRank(s));
  let verdict: Verdict = "pass";
  let deciding: Finding[] = [];
  const blocking = atLeast(policy.verdict.blockAt);
  const reviewing = atLeast(policy.verdict.reviewAt);
  if (blocking.length) {
    verdict = "block";
    deciding = blocking;
  } else if (reviewing.length) {
    verdict = "review";
    deciding = reviewing;
  }
  const incomplete = counted.filter((f) => f.id === INCOMPLETE);
  if (incomplete.length && verdict === "pass") {
    verdict = "review";
    deciding = incomplete;
  } else if (incomplete.length && !deciding.some((f) => f.id === INCOMPLETE)) {
    deciding = [...deciding, ...incomplete];
  }
  return { findings: judged, verdict, decidedBy: [...new Set(deciding.map((f) => f.id))] };
}

/**
 * Steps 1 and 2 alone: the findings as the policy sees them (severities overridden, disabled
 * checks removed, exceptions marked `waived`), in their order. Shared with `watch.changed`, which
 * compares a re-check with what an approval saw under the same rules.
 */
export function judgeFindings(
  findings: readonly Finding[],
  policy: Policy,
  image: EvaluatedImage,
  now: Date,
): Finding[] {
  const today = now.toISOString().slice(0, 10);
  const disabled = new Set(policy.checks.disabled);
  const judged: Finding[] = [];
  for (const f of findings) {
    const pinned = f.id === INCOMPLETE;
    if (disabled.has(f.id) && !pinned) continue;
    const severity = policy.checks.severity[f.id] ?? f.severity;
    const g: Finding = { ...f, severity };
    delete g.waived;
    if (!pinned) {
      const active = policy.exceptions.filter((e) => e.check === f.id && e.expires >= today);
      const ex = active.find((e) => matchingGlob([e.image], image) !== undefined);
      if (ex) g.waived = { reason: ex.reason, expires: ex.expires };
    }
    judged.push(g);
  }
  return judged;
}

/**
 * A stable short version of a policy: the first 12 hex of the sha256 of its canonical JSON
 * (keys sorted). Equal policies get equal versions however their files were written.
 */
export function policyVersion(policy: Policy): string {
  return createHash("sha256").update(canonicalJson(policy)).digest("hex").slice(0, 12);
}

/** JSON with object keys sorted at every level, `undefined` fields dropped. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
