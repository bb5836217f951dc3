/**
 * The report of the public contract, schema `image-check/report@1` (../shared/CONTRACT.md,
 * "Report JSON"). Fields are only ever added.
 */
import type { VulnerabilityReport } from "../vuln/types.js";
import type { Finding } from "./types.js";

/** The verdict of a check. */
export type Verdict = "pass" | "review" | "block";

/** The image the report is about. */
export interface ReportImage {
  registry: string;
  repository: string;
  tag?: string;
  /** What the tag resolves to: index or manifest. */
  digest?: string;
  platform: string;
  manifestDigest?: string;
  configDigest?: string;
  /** `registry/repository:tag@digest`, the reference to use. */
  pinned?: string;
  /**
   * For a `name:tag@digest` reference: what the tag resolves to now, when it could be looked up
   * (`digest` is then the pinned digest, which the tag may no longer point at).
   */
  tagDigest?: string;
}

/** One signature as the report shows it (no raw bytes). */
export interface ReportSignature {
  kind: string;
  foundVia: string;
  status: string;
  signer?: string;
  detail: string;
}

/** One attestation as the report shows it. */
export interface ReportAttestation {
  kind: string;
  predicateType: string;
  foundVia: string;
  sourceRepository?: string;
  sourceRevision?: string;
}

/** The facts summary of the report. */
export interface ReportFacts {
  created?: string;
  user: string;
  labels: Record<string, string>;
  history: { created?: string; createdBy: string; emptyLayer: boolean }[];
  signatures: ReportSignature[];
  attestations: ReportAttestation[];
  /** Everything else worth showing, added over time. */
  [extra: string]: unknown;
}

/** How to run the image with least privilege, derived from its config. */
export interface RunAdvice {
  dockerRun: string;
  compose: string;
  notes: string[];
}

/** The report. */
export interface Report {
  schema: "image-check/report@1";
  reference: string;
  image: ReportImage;
  verdict: Verdict;
  findings: Finding[];
  facts: ReportFacts;
  checkedAt: string;
  durationMs: number;
  /** The findings that decided the verdict (ids), most severe first. */
  decidedBy?: string[];
  /** Hardened run advice. */
  run?: RunAdvice;
  /** Where the facts came from and what gathering cost. */
  source?: { kind: string; requests: number; bytes: number };
  /** Version (hash) of the policy the report was judged under. */
  policyVersion?: string;
  /**
   * Known vulnerabilities (src/vuln): null when the policy turns vulnerability data off or nothing
   * was gathered; absent in reports stored before vulnerabilities were read.
   */
  vulnerabilities?: VulnerabilityReport | null;
}

/**
 * True when the check could not finish: an unwaived `check.incomplete`. Its verdict is never
 * `pass` (review at least), but a reader must not take it for a review of the whole image: the CLI
 * exits 3 for it and the text report heads it COULD NOT CHECK.
 */
export function couldNotFinish(report: Pick<Report, "findings">): boolean {
  return report.findings.some((f) => f.id === "check.incomplete" && !f.waived);
}
