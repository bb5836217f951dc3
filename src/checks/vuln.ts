/**
 * Vulnerability checks (contract ids `vuln.*`). Pure: they judge the assessment src/vuln made
 * from data already fetched (attestations, VEX, SBOM matches, a report given on the command line).
 * A finding names counts and the worst items with installed -> fixed versions.
 */

import type { ImageFacts } from "../facts/model.js";
import { assessVulnerabilities, type VulnAssessment } from "../vuln/assess.js";
import type { VulnItem } from "../vuln/types.js";
import { finding, listing, plural } from "./finding.js";
import type { Check, CheckContext, Finding } from "./types.js";

/** Items a finding names in full (the rest are counted). */
const SHOWN = 5;

/** `CVE-1 in openssl 3.1.4-r0 -> 3.1.4-r5`. */
export function describeItem(i: VulnItem): string {
  const where = i.package ? ` in ${i.package}${i.installed ? ` ${i.installed}` : ""}` : "";
  return `${i.id}${where}${i.fixed ? ` -> ${i.fixed}` : " (no fix yet)"}`;
}

function evidenceOf(items: readonly VulnItem[]): Record<string, unknown> {
  return {
    count: items.length,
    items: items.slice(0, SHOWN).map((i) => ({
      id: i.id,
      package: i.package,
      installed: i.installed,
      fixed: i.fixed,
      severity: i.severity,
      cvss: i.cvss,
    })),
  };
}

function named(items: readonly VulnItem[]): string {
  const more = items.length > SHOWN ? ` and ${items.length - SHOWN} more` : "";
  return `${listing(items.slice(0, SHOWN).map(describeItem))}${more}`;
}

/** The assessment the caller made, or one made here from the facts and trust report. */
export function assessmentFor(facts: ImageFacts, ctx: CheckContext): VulnAssessment | null {
  if (ctx.vulnerabilities !== undefined) return ctx.vulnerabilities;
  const { registry, repository, tag, digest } = facts.reference;
  return assessVulnerabilities(
    facts,
    {
      registry,
      repository,
      ...(tag ? { tag } : {}),
      ...((digest ?? facts.digest) ? { digest: digest ?? facts.digest } : {}),
    },
    ctx.trust,
    ctx.policy,
    ctx.now,
  );
}

/** The vulnerability findings that list items; `vuln.other` only counts. */
export const ITEM_FINDINGS = ["vuln.critical", "vuln.high", "vuln.unfixed"] as const;
/** The id of a vulnerability finding that lists items. */
export type ItemFinding = (typeof ITEM_FINDINGS)[number];

/**
 * The affected, unwaived items each vulnerability finding covers: critical and high ones with a
 * fix (all of them with `includeUnfixed`), and, without it, critical and high ones with no fix
 * yet. One home for the rule: the checks build their findings from it, and `watch.changed`
 * compares an approval's vulnerabilities with a re-check's by it.
 */
export function itemsByFinding(
  items: readonly VulnItem[],
  includeUnfixed: boolean,
): Record<ItemFinding, VulnItem[]> {
  const affected = items.filter((i) => i.status === "affected" && !i.waived);
  const counted = (s: VulnItem["severity"]) =>
    affected.filter((i) => i.severity === s && (i.fixed !== null || includeUnfixed));
  return {
    "vuln.critical": counted("critical"),
    "vuln.high": counted("high"),
    "vuln.unfixed": includeUnfixed
      ? []
      : affected.filter((i) => (i.severity === "critical" || i.severity === "high") && i.fixed === null),
  };
}

/** Every vulnerability check. */
export const vulnChecks: Check = (facts, ctx) => {
  const a = assessmentFor(facts, ctx);
  if (!a) return [];
  const out: Finding[] = [];
  const conf = ctx.policy.vulnerabilities;
  const {
    "vuln.critical": critical,
    "vuln.high": high,
    "vuln.unfixed": unfixed,
  } = itemsByFinding(a.report.items, conf.includeUnfixed);

  if (critical.length)
    out.push(
      finding(
        "vuln.critical",
        `${plural(critical.length, "critical vulnerability")}${conf.includeUnfixed ? "" : " with a fix"}`,
        `Expected no critical vulnerabilities; found ${named(critical)}. Rebuild on updated packages.`,
        evidenceOf(critical),
      ),
    );
  if (high.length)
    out.push(
      finding(
        "vuln.high",
        `${plural(high.length, "high vulnerability")}${conf.includeUnfixed ? "" : " with a fix"}`,
        `Expected no high vulnerabilities; found ${named(high)}. Rebuild on updated packages.`,
        evidenceOf(high),
      ),
    );
  if (unfixed.length)
    out.push(
      finding(
        "vuln.unfixed",
        `${plural(unfixed.length, "critical or high vulnerability")} without a fix yet`,
        `No fixed version exists yet for ${named(unfixed)}; watch for one, or pick another base image.`,
        evidenceOf(unfixed),
      ),
    );
  const { medium, low, unknown } = a.report.counts;
  if (medium + low + unknown > 0)
    out.push(
      finding(
        "vuln.other",
        `${medium} medium, ${low} low, ${unknown} unrated vulnerabilities`,
        `Vulnerabilities below high: ${medium} medium, ${low} low, ${unknown} unknown.`,
        { medium, low, unknown },
      ),
    );

  if (!a.trusted) {
    const seen = a.report.sources.map(
      (s) => `${s.kind}${s.signedBy ? ` signed by ${s.signedBy}` : " (unsigned)"}`,
    );
    const why = [
      seen.length
        ? `only untrusted data: ${listing(seen)}`
        : `no vulnerability data from ${listing(conf.sources) || "any source"}`,
      ...a.problems,
    ];
    out.push(
      finding(
        "vuln.no-data",
        "No trusted vulnerability data",
        `Expected a signed vulnerability attestation, a signed VEX, a signed SBOM the ${conf.scanner.kind} scanner could match, or --vuln-report; got ${why.join("; ")}. Unsigned data may add vulnerabilities but never clears them.`,
        { sources: a.report.sources, problems: a.problems },
      ),
    );
  } else if (a.newestScan) {
    const ageDays = (ctx.now.getTime() - Date.parse(a.newestScan)) / 86_400_000;
    if (ageDays > conf.maxAgeDays)
      out.push(
        finding(
          "vuln.stale-data",
          `Vulnerability data is ${Math.floor(ageDays)} days old`,
          `Expected a scan newer than ${conf.maxAgeDays} days; the newest is from ${a.newestScan}. Scan again and re-attach the result.`,
          { newestScan: a.newestScan, maxAgeDays: conf.maxAgeDays },
        ),
      );
  }
  return out;
};
