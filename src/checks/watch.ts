/**
 * `watch.changed`: a re-check of an approved digest found findings at or above review that the
 * approval did not see. Pure: it compares the re-check's findings, judged by the policy as the
 * verdict judges them, with the findings the approval's report had.
 *
 * The comparison is by check id: any finding id the approval did not have (a signature now by an
 * unknown key, a tag that moved, a vulnerability finding), or one it had at a lower severity,
 * counts. A vulnerability finding that lists items (`vuln.critical`, `vuln.high`, `vuln.unfixed`)
 * is also compared by what it covers: a newly published critical CVE lands in the same
 * `vuln.critical` at the same severity, and is a change all the same. An item counts as seen when
 * its id or one of its aliases was among the approval's (a source may name a GHSA where another
 * named the CVE). `check.incomplete` never counts: a re-check that could not finish says nothing
 * new about the image, and a registry outage must not revoke approvals.
 */
import type { ImageFacts } from "../facts/model.js";
import { judgeFindings } from "../policy/evaluate.js";
import type { VulnItem } from "../vuln/types.js";
import { finding, listing, plural } from "./finding.js";
import { type CheckContext, type Finding, type Severity, severityRank } from "./types.js";
import { assessmentFor, ITEM_FINDINGS, itemsByFinding } from "./vuln.js";

/** One change a re-check found, as `watch.changed` lists it in its evidence. */
export interface WatchChange {
  id: string;
  severity: Severity;
  title: string;
  /** For a vulnerability finding: the ids it covers that the approval did not see, in order. */
  vulnerabilities?: string[];
}

/** What vulnerability findings cover, by finding id: the items now, and the ids the approval saw. */
export interface VulnCoverage {
  now: ReadonlyMap<string, readonly Pick<VulnItem, "id" | "aliases">[]>;
  /** Ids and aliases seen by the approval, per finding; a finding missing here is compared by id only. */
  approved: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Vulnerability ids named in a change's title; the evidence has them all. */
const TITLE_IDS = 5;

/** What is new in `findings` (judged) since the approval's `approved` findings. */
export function watchChanges(
  judged: readonly Finding[],
  approved: readonly Pick<Finding, "id" | "severity" | "waived">[],
  reviewAt: Severity,
  coverage?: VulnCoverage,
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
    const fresh = newVulnerabilities(f.id, coverage);
    if ((seen.get(f.id) ?? -1) >= rank && !fresh?.length) continue;
    const known = changes.get(f.id);
    if (known && severityRank(known.severity) >= rank) continue;
    changes.set(f.id, {
      id: f.id,
      severity: f.severity,
      title: fresh?.length ? `${f.title}; new since the approval: ${named(fresh)}` : f.title,
      ...(fresh?.length ? { vulnerabilities: fresh } : {}),
    });
  }
  return [...changes.values()].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
}

/**
 * The ids a vulnerability finding covers now that the approval did not see, or undefined when
 * that cannot be told (not such a finding, or the approval's set of it is unknown).
 */
function newVulnerabilities(findingId: string, coverage: VulnCoverage | undefined): string[] | undefined {
  const now = coverage?.now.get(findingId);
  const saw = coverage?.approved.get(findingId);
  if (!now || !saw) return undefined;
  const fresh = now.filter((i) => !saw.has(i.id) && !i.aliases.some((a) => saw.has(a))).map((i) => i.id);
  return [...new Set(fresh)];
}

function named(ids: readonly string[]): string {
  const more = ids.length > TITLE_IDS ? ` and ${ids.length - TITLE_IDS} more` : "";
  return `${ids.slice(0, TITLE_IDS).join(", ")}${more}`;
}

/**
 * What each vulnerability finding covers, now (from this check's assessment) and at the approval
 * (from its report's vulnerability items; from a finding's evidence when the report has none and
 * the evidence lists every item it counts). Both sides by the same rule, under today's policy.
 */
export function vulnCoverage(
  facts: ImageFacts,
  ctx: CheckContext,
  approval: NonNullable<CheckContext["approval"]>,
): VulnCoverage | undefined {
  const assessment = assessmentFor(facts, ctx);
  if (!assessment) return undefined;
  const includeUnfixed = ctx.policy.vulnerabilities.includeUnfixed;
  const now = new Map(Object.entries(itemsByFinding(assessment.report.items, includeUnfixed)));
  const approved = new Map<string, Set<string>>();
  const idsOf = (items: readonly Pick<VulnItem, "id" | "aliases">[]) =>
    new Set(items.flatMap((i) => [i.id, ...(Array.isArray(i.aliases) ? i.aliases : [])]));
  if (approval.vulnerabilities) {
    for (const [id, items] of Object.entries(itemsByFinding(approval.vulnerabilities, includeUnfixed)))
      approved.set(id, idsOf(items));
    return { now, approved };
  }
  for (const id of ITEM_FINDINGS) {
    const had = approval.findings.filter((f) => f.id === id);
    if (had.length === 0) {
      approved.set(id, new Set());
      continue;
    }
    const listed = had.map((f) => evidenceIds(f.evidence));
    if (listed.every((ids) => ids !== null)) approved.set(id, new Set(listed.flat() as string[]));
  }
  return { now, approved };
}

/** The item ids a vulnerability finding's evidence lists, or null unless it lists all it counts. */
function evidenceIds(evidence: Record<string, unknown> | undefined): string[] | null {
  const items = evidence?.items;
  if (!Array.isArray(items)) return null;
  const ids = items
    .map((i) => (i && typeof i === "object" ? (i as { id?: unknown }).id : undefined))
    .filter((id): id is string => typeof id === "string");
  return ids.length === items.length && evidence?.count === ids.length ? ids : null;
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
  const changes = watchChanges(
    judged,
    ctx.approval.findings,
    ctx.policy.verdict.reviewAt,
    vulnCoverage(facts, ctx, ctx.approval),
  );
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
