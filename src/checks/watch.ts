/**
 * `watch.changed`: a re-check of an approved digest found findings at or above review that the
 * approval did not see. Pure: it compares the re-check's findings, judged by the policy as the
 * verdict judges them, with the findings the approval's report had.
 *
 * The comparison is generic, by check id: any finding id the approval did not have (a signature now
 * by an unknown key, a tag that moved, a vulnerability finding), or one it had at a lower severity,
 * counts. `check.incomplete` never does: a re-check that could not finish says nothing new about
 * the image, and a registry outage must not revoke approvals.
 */
import type { ImageFacts } from "../facts/model.js";
import { judgeFindings } from "../policy/evaluate.js";
import { finding, listing, plural } from "./finding.js";
import { type CheckContext, type Finding, type Severity, severityRank } from "./types.js";

/** One change a re-check found, as `watch.changed` lists it in its evidence. */
export interface WatchChange {
  id: string;
  severity: Severity;
  title: string;
}

/** What is new in `findings` (judged) since the approval's `approved` findings. */
export function watchChanges(
  judged: readonly Finding[],
  approved: readonly Pick<Finding, "id" | "severity" | "waived">[],
  reviewAt: Severity,
): WatchChange[] {
  const seen = new Map<string, number>();
  for (const f of approved) {
    if (f.waived) continue;
    seen.set(f.id, Math.max(seen.get(f.id) ?? -1, severityRank(f.severity)));
  }
  const changes = new Map<string, WatchChange>();
  for (const f of judged) {
    if (f.waived || f.id === "check.incomplete" || f.id === "watch.changed") continue;
    const rank = severityRank(f.severity);
    if (rank < severityRank(reviewAt)) continue;
    if ((seen.get(f.id) ?? -1) >= rank) continue;
    const known = changes.get(f.id);
    if (!known || severityRank(known.severity) < rank)
      changes.set(f.id, { id: f.id, severity: f.severity, title: f.title });
  }
  return [...changes.values()].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
}

/** The worst severity among `changes`, or null when there are none. */
export function worstChange(changes: readonly WatchChange[]): Severity | null {
  let worst: Severity | null = null;
  for (const c of changes) if (!worst || severityRank(c.severity) > severityRank(worst)) worst = c.severity;
  return worst;
}

/** The watch check: `watch.changed` when `ctx.approval` is set and something is new since. */
export function watchChecks(others: readonly Finding[], facts: ImageFacts, ctx: CheckContext): Finding[] {
  if (!ctx.approval) return [];
  const ref = facts.reference;
  const image = {
    registry: ref.registry,
    repository: ref.repository,
    ...(ref.tag ? { tag: ref.tag } : {}),
    ...(facts.digest ? { digest: facts.digest } : {}),
  };
  const judged = judgeFindings(others, ctx.policy, image, ctx.now);
  const changes = watchChanges(judged, ctx.approval.findings, ctx.policy.verdict.reviewAt);
  if (changes.length === 0) return [];
  return [
    finding(
      "watch.changed",
      `Changed since its approval: ${plural(changes.length, "new finding")}`,
      `The approval did not see ${listing(changes.map((c) => `${c.id} (${c.severity}): ${c.title}`))}. Ask IT to look again.`,
      { changes, worst: worstChange(changes) },
    ),
  ];
}
