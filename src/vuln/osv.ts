/**
 * OSV records (https://ossf.github.io/osv-schema/) turned into items for the packages that
 * matched them. Severity comes from the record's CVSS v3 vector, its `database_specific.severity`,
 * or else the record of its `CVE-*` alias (Debian and Alpine advisories often carry none of
 * their own).
 */
import { arr, at, isObject, str } from "../trust/parse.js";
import { bandOf, cvss3BaseScore, severityWord } from "./cvss.js";
import { VULN_LIMITS } from "./limits.js";
import { text } from "./reports.js";
import type { SbomPackage } from "./sbom.js";
import type { VulnItem, VulnSeverity } from "./types.js";

/** The `id` and `modified` of each hit in a querybatch answer. */
export interface OsvHit {
  id: string;
  modified?: string;
}

function ownSeverity(record: unknown): { severity: VulnSeverity; cvss: number | null } {
  for (const s of arr(record, "severity").slice(0, 8)) {
    const type = str(s, "type");
    const score = str(s, "score");
    if ((type === "CVSS_V3" || type === "CVSS_V31") && score) {
      const n = cvss3BaseScore(score);
      if (n !== null) return { severity: bandOf(n), cvss: n };
    }
  }
  const words = [
    at(record, "database_specific", "severity"),
    ...arr(record, "affected")
      .slice(0, 64)
      .flatMap((a) => [at(a, "ecosystem_specific", "severity"), at(a, "database_specific", "severity")]),
  ];
  for (const w of words) {
    const s = severityWord(w);
    if (s !== "unknown") return { severity: s, cvss: null };
  }
  return { severity: "unknown", cvss: null };
}

/**
 * The CVE ids of a record: itself, its aliases, and the CVEs it is the distro's copy of
 * (`upstream`, as Alpine's and Debian's advisories name them).
 */
export function cveAliases(record: unknown): string[] {
  const ids = [
    str(record, "id") ?? "",
    ...[...arr(record, "aliases"), ...arr(record, "upstream")]
      .slice(0, 64)
      .map((a) => (typeof a === "string" ? a : "")),
  ];
  return ids.filter((id) => /^CVE-\d{4}-\d{4,}$/.test(id));
}

/** The first fixed version for this package in the record's ranges, or null. */
function fixedFor(record: unknown, pkg: SbomPackage): string | null {
  for (const a of arr(record, "affected").slice(0, 256)) {
    if (str(a, "package", "ecosystem") !== pkg.query.package.ecosystem) continue;
    if (str(a, "package", "name") !== pkg.query.package.name) continue;
    for (const r of arr(a, "ranges").slice(0, 64)) {
      for (const e of arr(r, "events").slice(0, 256)) {
        const fixed = str(e, "fixed");
        if (fixed) return text(fixed);
      }
    }
  }
  return null;
}

/**
 * Items for the hits of each package: `hits[i]` are the ids OSV returned for `packages[i]`;
 * `records` maps ids (the hits and their CVE aliases) to the full records fetched.
 */
export function osvItems(
  packages: readonly SbomPackage[],
  hits: readonly (readonly OsvHit[])[],
  records: ReadonlyMap<string, unknown>,
): VulnItem[] {
  const items: VulnItem[] = [];
  packages.forEach((pkg, i) => {
    for (const hit of hits[i] ?? []) {
      if (items.length >= VULN_LIMITS.items) return;
      const record = records.get(hit.id);
      let sev = ownSeverity(record);
      if (sev.severity === "unknown") {
        for (const cve of cveAliases(record)) {
          if (cve === hit.id) continue;
          const other = ownSeverity(records.get(cve));
          if (other.severity !== "unknown") {
            sev = other;
            break;
          }
        }
      }
      items.push({
        id: text(hit.id),
        aliases: isObject(record)
          ? arr(record, "aliases")
              .slice(0, VULN_LIMITS.aliases)
              .map(text)
              .filter((a) => a && a !== hit.id)
          : [],
        package: pkg.query.package.name,
        purl: pkg.purl,
        installed: pkg.query.version,
        fixed: fixedFor(record, pkg),
        ...sev,
        status: "affected",
      });
    }
  });
  return items;
}
