/**
 * Findings and the check ids of the public contract (../shared/CONTRACT.md, "Check ids").
 * Ids are stable: never rename or remove one.
 */
import type { ImageFacts } from "../facts/model.js";
import type { Policy } from "../policy/schema.js";
import type { TrustReport } from "../trust/types.js";
import type { VulnAssessment } from "../vuln/assess.js";
import type { VulnItem } from "../vuln/types.js";

export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
/** How much a finding matters, in ascending order. */
export type Severity = (typeof SEVERITIES)[number];

/** Rank of a severity, for comparisons (info = 0 ... critical = 4). */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Every check id with its category and default severity, as the contract lists them. */
export const CHECKS = {
  "tag.latest": { category: "tag", severity: "medium" },
  "tag.not-descriptive": { category: "tag", severity: "low" },
  "tag.not-pinned": { category: "tag", severity: "info" },
  "tag.moved": { category: "tag", severity: "medium" },
  "tag.digest-conflict": { category: "tag", severity: "low" },
  "provenance.publisher": { category: "provenance", severity: "info" },
  "provenance.untrusted-publisher": { category: "provenance", severity: "medium" },
  "provenance.no-source": { category: "provenance", severity: "medium" },
  "provenance.no-revision": { category: "provenance", severity: "low" },
  "provenance.no-attestation": { category: "provenance", severity: "low" },
  "provenance.stale": { category: "provenance", severity: "medium" },
  "history.empty": { category: "history", severity: "medium" },
  "history.remote-script": { category: "history", severity: "high" },
  "history.remote-add": { category: "history", severity: "medium" },
  "history.insecure-fetch": { category: "history", severity: "medium" },
  "history.secret": { category: "history", severity: "high" },
  "history.sudo": { category: "history", severity: "low" },
  "history.world-writable": { category: "history", severity: "medium" },
  "config.root-user": { category: "config", severity: "medium" },
  "config.secret-env": { category: "config", severity: "high" },
  "config.ssh-port": { category: "config", severity: "medium" },
  "config.sensitive-volume": { category: "config", severity: "high" },
  "config.no-healthcheck": { category: "config", severity: "info" },
  "config.large-image": { category: "config", severity: "low" },
  "contents.runtimes": { category: "contents", severity: "info" },
  "trust.signed": { category: "trust", severity: "info" },
  "trust.unsigned": { category: "trust", severity: "medium" },
  "trust.untrusted-signer": { category: "trust", severity: "medium" },
  "trust.signature-invalid": { category: "trust", severity: "critical" },
  "trust.digest-mismatch": { category: "trust", severity: "critical" },
  "trust.no-sbom": { category: "trust", severity: "low" },
  "check.incomplete": { category: "check", severity: "high" },
  "config.credential": { category: "config", severity: "critical" },
  "history.credential": { category: "history", severity: "critical" },
  "vuln.critical": { category: "vuln", severity: "critical" },
  "vuln.high": { category: "vuln", severity: "high" },
  "vuln.unfixed": { category: "vuln", severity: "low" },
  "vuln.other": { category: "vuln", severity: "info" },
  "vuln.no-data": { category: "vuln", severity: "medium" },
  "vuln.stale-data": { category: "vuln", severity: "low" },
  "watch.changed": { category: "watch", severity: "medium" },
} as const satisfies Record<string, { category: string; severity: Severity }>;

/** A stable check id. */
export type CheckId = keyof typeof CHECKS;
/** A check category: the part of the id before the dot. */
export type Category = (typeof CHECKS)[CheckId]["category"];

/** True for a known check id. */
export function isCheckId(id: string): id is CheckId {
  return Object.hasOwn(CHECKS, id);
}

/** One finding of the report (contract, "Report JSON"). */
export interface Finding {
  id: CheckId;
  category: Category;
  severity: Severity;
  /** One line. */
  title: string;
  /** Expected X, got Y; what to do. */
  detail: string;
  /** Names the exact label, env var, history step or signature. Secrets are never in full here. */
  evidence: Record<string, unknown>;
  /** Set when a policy exception waives this finding; it then does not count toward the verdict. */
  waived?: { reason: string; expires: string };
}

/** What a check may know besides the facts. Pure data: no I/O handles. */
export interface CheckContext {
  policy: Policy;
  now: Date;
  /** Trust verification results over the fetched signature and attestation bytes. */
  trust: TrustReport;
  /** The digest this repository:tag resolved to at its last check or decision here, if any (for `tag.moved`). */
  lastKnownDigest?: string | null;
  /**
   * What the reference's tag resolves to now, when the caller looked it up separately from the
   * facts (a `name:tag@digest` reference is gathered by its digest, so `facts.digest` is the pinned
   * one). Read by `tag.moved` and `tag.digest-conflict`; when absent they use
   * `facts.registryInfo.tagDigest`, then `facts.digest`.
   */
  tagDigest?: string | null;
  /**
   * The vulnerability assessment (src/vuln), when the caller made one (it may add a scanner
   * report or OSV matches); when absent the vuln checks assess the facts and trust report alone.
   */
  vulnerabilities?: VulnAssessment | null;
  /**
   * Set on a re-check of an approved digest (`watch`): the findings the approval's report had, as
   * its policy judged them. `watch.changed` fires for what is new since.
   */
  approval?: {
    findings: readonly (Pick<Finding, "id" | "severity" | "waived"> & Partial<Pick<Finding, "evidence">>)[];
    /**
     * The approval report's vulnerability items (`vulnerabilities.items`), so a vulnerability
     * finding of the same id and severity still counts as changed when it covers a new one.
     * Absent in reports from before vulnerabilities were read: then the findings' evidence.
     */
    vulnerabilities?: readonly VulnItem[] | null;
  } | null;
}

/** A check: pure, no I/O. Returns findings with the default severity; the policy adjusts later. */
export type Check = (facts: ImageFacts, context: CheckContext) => Finding[];
