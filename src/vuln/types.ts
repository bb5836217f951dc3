/**
 * The normalised vulnerability model: every source (scanner report, attestation, VEX, SBOM + OSV)
 * is read into these items, and the report's `vulnerabilities` field is built from them. Plain,
 * JSON-serializable data.
 */

/** Severity bands as Trivy and Grype print them; `unknown` when no source rates it. */
export const VULN_SEVERITIES = ["unknown", "low", "medium", "high", "critical"] as const;
/** A vulnerability's severity band. */
export type VulnSeverity = (typeof VULN_SEVERITIES)[number];

/** OpenVEX status names, which the report uses for every item. */
export type VulnStatus = "affected" | "not_affected" | "fixed" | "under_investigation";

/** One vulnerability in one package. */
export interface VulnItem {
  id: string;
  aliases: string[];
  package: string;
  purl?: string;
  installed: string;
  /** The first version that fixes it, or null when there is none yet. */
  fixed: string | null;
  severity: VulnSeverity;
  /** CVSS v3 base score, when a source gives one (or a vector it can be computed from). */
  cvss: number | null;
  status: VulnStatus;
  /** The VEX justification, when a VEX statement set the status. */
  vex?: string;
  /** Set when a policy exception waives it. */
  waived?: { reason: string; expires: string };
}

/** Where vulnerability data came from. */
export type VulnSourceKind = "attestation" | "vex" | "sbom" | "report";

/** One source of data, as the report lists it. */
export interface VulnSourceInfo {
  kind: VulnSourceKind;
  predicateType?: string;
  /** Policy key name or keyless identity; null when unsigned. */
  signedBy: string | null;
  /** e.g. `trivy 0.50.1`, `grype 0.74.0`, `osv`. */
  scanner?: string;
  /** RFC 3339, when the source says when it was made. */
  scannedAt?: string;
}

/** The report's `vulnerabilities` field. */
export interface VulnerabilityReport {
  sources: VulnSourceInfo[];
  /** Affected, unwaived items by severity. */
  counts: Record<VulnSeverity, number>;
  items: VulnItem[];
}

/** A scanner report read from any wrapper: what it says and what it names. */
export interface ScanResult {
  /** `trivy 0.50.1`, `grype 0.66.0`. */
  scanner: string;
  scannedAt?: string;
  /** Every digest the report names for its artifact (repo digests, manifest, config), `sha256:<hex>`. */
  digests: string[];
  items: VulnItem[];
}
