/**
 * Scanner reports: Trivy JSON (`SchemaVersion` 2) and Grype JSON, given on the command line or
 * wrapped in an attestation (cosign's vuln predicate keeps one in `scanner.result`), and the
 * in-toto vulns v0.1 predicate. Pure; hostile input gives a one-line reason, never a throw.
 * Where the formats are silent we read them as Trivy's and Grype's users expect: a report's own
 * `Severity` wins over a CVSS score, and a fix that exists means the installed version is affected.
 */
import { arr, at, clip, isObject, type Parsed, str } from "../trust/parse.js";
import { bandOf, cvss3BaseScore, severityWord } from "./cvss.js";
import { VULN_LIMITS } from "./limits.js";
import type { ScanResult, VulnItem, VulnStatus } from "./types.js";

/** cosign's vuln predicate type, with and without the scheme (cosign has written both). */
export const COSIGN_VULN_TYPES = [
  "https://cosign.sigstore.dev/attestation/vuln/v1",
  "cosign.sigstore.dev/attestation/vuln/v1",
];
/** in-toto's vulnerability predicate (https://github.com/in-toto/attestation/blob/main/spec/predicates/vuln.md). */
export const INTOTO_VULNS_TYPE = "https://in-toto.io/attestation/vulns/v0.1";

/** Text from untrusted input, bounded and on one line. */
export function text(v: unknown): string {
  return typeof v === "string" ? clip(v, VULN_LIMITS.text) : "";
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;

/** The `sha256:<hex>` of a digest or `repo@sha256:<hex>`, or undefined. */
function digestOf(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const d = v.includes("@") ? v.slice(v.lastIndexOf("@") + 1) : v;
  return SHA256.test(d) ? d : undefined;
}

function digests(...values: unknown[]): string[] {
  const out = new Set<string>();
  for (const v of values) {
    for (const x of Array.isArray(v) ? v : [v]) {
      const d = digestOf(x);
      if (d) out.add(d);
    }
  }
  return [...out];
}

/** A time as RFC 3339, from a string or Unix seconds (older Trivy wrote an integer). */
function timeOf(v: unknown): string | undefined {
  const date =
    typeof v === "number" && Number.isFinite(v)
      ? new Date(v * 1000)
      : typeof v === "string" && v.length < 64
        ? new Date(v)
        : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
}

function score(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 10 ? v : null;
}

/** Items kept once per (id, package, installed), so a report listing one twice counts it once. */
function dedupe(items: VulnItem[]): VulnItem[] {
  const seen = new Map<string, VulnItem>();
  for (const item of items) {
    const key = `${item.id}\u0000${item.package}\u0000${item.installed}`;
    if (!seen.has(key)) seen.set(key, item);
  }
  return [...seen.values()];
}

function tooMany(count: number): Parsed<never> {
  return { ok: false, reason: `more than ${VULN_LIMITS.items} vulnerabilities listed (${count})` };
}

function aliasesOf(values: unknown[], id: string): string[] {
  const out = new Set<string>();
  for (const v of values) {
    const a = text(v);
    if (a && a !== id) out.add(a);
    if (out.size >= VULN_LIMITS.aliases) break;
  }
  return [...out];
}

/** Trivy's statuses (pkg/types/vulnerability.go) in VEX terms: a known fix still leaves this version affected. */
function trivyStatus(v: unknown): VulnStatus {
  if (v === "not_affected") return "not_affected";
  if (v === "under_investigation") return "under_investigation";
  return "affected";
}

/** The CVSS v3 score Trivy lists: NVD's first, then any vendor's, computed from the vector if only that is given. */
function trivyCvss(cvss: unknown): number | null {
  if (!isObject(cvss)) return null;
  const vendors = ["nvd", ...Object.keys(cvss).filter((k) => k !== "nvd")].slice(0, 16);
  for (const vendor of vendors) {
    const s = score(at(cvss, vendor, "V3Score"));
    if (s !== null) return s;
    const vector = str(cvss, vendor, "V3Vector");
    const computed = vector ? cvss3BaseScore(vector) : null;
    if (computed !== null) return computed;
  }
  return null;
}

/** True for a Trivy JSON report (SchemaVersion 2). */
export function isTrivyReport(v: unknown): boolean {
  return isObject(v) && v.SchemaVersion === 2 && (Array.isArray(v.Results) || v.Results === undefined);
}

/** True for a Grype JSON report. */
export function isGrypeReport(v: unknown): boolean {
  return isObject(v) && Array.isArray(v.matches) && isObject(v.descriptor);
}

/** Reads a Trivy JSON report (SchemaVersion 2; https://trivy.dev/latest/docs/configuration/reporting/#json). */
export function readTrivy(v: unknown): Parsed<ScanResult> {
  if (!isTrivyReport(v)) return { ok: false, reason: "not a Trivy JSON report (SchemaVersion 2)" };
  const results = arr(v, "Results");
  const items: VulnItem[] = [];
  let count = 0;
  for (const result of results) {
    const vulns = arr(result, "Vulnerabilities");
    count += vulns.length;
    if (count > VULN_LIMITS.items) return tooMany(count);
    for (const x of vulns) {
      const id = text(str(x, "VulnerabilityID"));
      if (!id) continue;
      const cvss = trivyCvss(at(x, "CVSS"));
      const word = severityWord(str(x, "Severity"));
      const purl = text(str(x, "PkgIdentifier", "PURL"));
      items.push({
        id,
        aliases: aliasesOf(arr(x, "VendorIDs"), id),
        package: text(str(x, "PkgName")),
        ...(purl ? { purl } : {}),
        installed: text(str(x, "InstalledVersion")),
        fixed: text(str(x, "FixedVersion")) || null,
        severity: word !== "unknown" ? word : cvss !== null ? bandOf(cvss) : "unknown",
        cvss,
        status: trivyStatus(str(x, "Status")),
      });
    }
  }
  const version = text(str(v, "Trivy", "Version"));
  const scannedAt = timeOf(at(v, "CreatedAt"));
  return {
    ok: true,
    value: {
      scanner: version ? `trivy ${version}` : "trivy",
      ...(scannedAt ? { scannedAt } : {}),
      digests: digests(at(v, "Metadata", "RepoDigests"), at(v, "Metadata", "ImageID")),
      items: dedupe(items),
    },
  };
}

/** The CVSS v3 base score of a Grype `cvss` list (first 3.x entry). */
function grypeCvss(list: unknown[]): number | null {
  for (const c of list.slice(0, 16)) {
    if (!String(str(c, "version") ?? "").startsWith("3")) continue;
    const s = score(at(c, "metrics", "baseScore"));
    if (s !== null) return s;
    const vector = str(c, "vector");
    const computed = vector ? cvss3BaseScore(vector) : null;
    if (computed !== null) return computed;
  }
  return null;
}

/** Reads a Grype JSON report (https://github.com/anchore/grype, `-o json`). */
export function readGrype(v: unknown): Parsed<ScanResult> {
  if (!isGrypeReport(v)) return { ok: false, reason: "not a Grype JSON report" };
  const matches = arr(v, "matches");
  if (matches.length > VULN_LIMITS.items) return tooMany(matches.length);
  const items: VulnItem[] = [];
  for (const m of matches) {
    const id = text(str(m, "vulnerability", "id"));
    if (!id) continue;
    const related = arr(m, "relatedVulnerabilities");
    const cvss =
      grypeCvss(arr(m, "vulnerability", "cvss")) ??
      related.reduce<number | null>((s, r) => s ?? grypeCvss(arr(r, "cvss")), null);
    const word = severityWord(str(m, "vulnerability", "severity"));
    const fixState = str(m, "vulnerability", "fix", "state");
    const fixVersions = arr(m, "vulnerability", "fix", "versions");
    const purl = text(str(m, "artifact", "purl"));
    items.push({
      id,
      aliases: aliasesOf(
        related.map((r) => str(r, "id")),
        id,
      ),
      package: text(str(m, "artifact", "name")),
      ...(purl ? { purl } : {}),
      installed: text(str(m, "artifact", "version")),
      fixed: fixState === "fixed" ? text(fixVersions[0]) || null : null,
      severity: word !== "unknown" ? word : cvss !== null ? bandOf(cvss) : "unknown",
      cvss,
      status: "affected",
    });
  }
  const name = text(str(v, "descriptor", "name")) || "grype";
  const version = text(str(v, "descriptor", "version"));
  const scannedAt = timeOf(at(v, "descriptor", "timestamp"));
  return {
    ok: true,
    value: {
      scanner: version ? `${name} ${version}` : name,
      ...(scannedAt ? { scannedAt } : {}),
      digests: digests(
        at(v, "source", "target", "repoDigests"),
        at(v, "source", "target", "manifestDigest"),
        at(v, "source", "target", "imageID"),
      ),
      items: dedupe(items),
    },
  };
}

/** Reads a Trivy or Grype JSON report, whichever it is. */
export function readScanReport(v: unknown): Parsed<ScanResult> {
  if (isTrivyReport(v)) return readTrivy(v);
  if (isGrypeReport(v)) return readGrype(v);
  return { ok: false, reason: "neither a Trivy JSON report (SchemaVersion 2) nor a Grype JSON report" };
}

/** `name version` of a predicate's scanner (`uri` is a purl like pkg:github/aquasecurity/trivy@...). */
function scannerName(scanner: unknown): string {
  const uri = text(str(scanner, "uri"));
  const name = /\/([A-Za-z0-9_.-]+)(?:@|$)/.exec(uri)?.[1] ?? (uri || "scanner");
  const version = text(str(scanner, "version"));
  return version ? `${name} ${version}` : name;
}

/**
 * cosign's vuln predicate (https://github.com/sigstore/cosign/blob/main/specs/COSIGN_VULN_ATTESTATION_SPEC.md):
 * `scanner.result` holds the scanner's own report (Trivy or Grype JSON); null means none found.
 */
export function readCosignVuln(predicate: unknown): Parsed<ScanResult> {
  if (!isObject(predicate) || !isObject(predicate.scanner))
    return { ok: false, reason: "vuln predicate has no scanner" };
  const finished = timeOf(at(predicate, "metadata", "scanFinishedOn"));
  const result = predicate.scanner.result;
  const name = scannerName(predicate.scanner);
  if (result === null || result === undefined) {
    return {
      ok: true,
      value: { scanner: name, ...(finished ? { scannedAt: finished } : {}), digests: [], items: [] },
    };
  }
  const report = readScanReport(result);
  if (!report.ok) return { ok: false, reason: `scanner.result: ${report.reason}` };
  // The predicate's own scan time and scanner name describe the attestation; the report's win when present.
  return {
    ok: true,
    value: {
      ...report.value,
      scanner: report.value.scanner === "trivy" ? name : report.value.scanner,
      ...(report.value.scannedAt ? {} : finished ? { scannedAt: finished } : {}),
    },
  };
}

/** The score or band an in-toto `severity` entry gives (`{method, score}`, score a number or a word). */
function intotoSeverity(entries: unknown[]): { severity: VulnItem["severity"]; cvss: number | null } {
  for (const e of entries.slice(0, 8)) {
    const raw = at(e, "score");
    const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : Number.NaN;
    if (Number.isFinite(n) && n >= 0 && n <= 10) return { severity: bandOf(n), cvss: n };
    const word = severityWord(raw);
    if (word !== "unknown") return { severity: word, cvss: null };
  }
  return { severity: "unknown", cvss: null };
}

/** in-toto's vulns v0.1 predicate: `scanner.result` is a list of `{id, severity: [{method, score}]}`. */
export function readIntotoVulns(predicate: unknown): Parsed<ScanResult> {
  if (!isObject(predicate) || !isObject(predicate.scanner))
    return { ok: false, reason: "vulns predicate has no scanner" };
  const result = predicate.scanner.result;
  if (result !== undefined && result !== null && !Array.isArray(result))
    return { ok: false, reason: "vulns predicate scanner.result is not a list" };
  const list = Array.isArray(result) ? result : [];
  if (list.length > VULN_LIMITS.items) return tooMany(list.length);
  const items: VulnItem[] = [];
  for (const r of list) {
    const id = text(str(r, "id"));
    if (!id) continue;
    items.push({
      id,
      aliases: [],
      package: "",
      installed: "",
      fixed: null,
      ...intotoSeverity(arr(r, "severity")),
      status: "affected",
    });
  }
  const finished = timeOf(at(predicate, "metadata", "scanFinishedOn"));
  return {
    ok: true,
    value: {
      scanner: scannerName(predicate.scanner),
      ...(finished ? { scannedAt: finished } : {}),
      digests: [],
      items: dedupe(items),
    },
  };
}
