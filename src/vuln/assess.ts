/**
 * The vulnerability summary of one image: every source the policy allows, read in its order,
 * combined into the report's `vulnerabilities` field plus what the checks need to judge it. Pure.
 *
 * Unsigned data may add vulnerabilities but never clear them (policy `trustUnsigned: false`): its
 * items are reported, but only a trusted source (signed by a policy key or identity, a BuildKit
 * attestation inside an index a trusted signature covers, or a report the operator gave on the
 * command line) can make the data complete. Without one the image gets `vuln.no-data`.
 */
import type { ImageFacts } from "../facts/model.js";
import { matchingGlob } from "../policy/glob.js";
import type { Policy } from "../policy/schema.js";
import { clip } from "../trust/parse.js";
import type { StatementRecord, TrustReport } from "../trust/types.js";
import { applyVex, isOpenVexType, readOpenVex, type VexImage, type VexStatement } from "./openvex.js";
import { type OsvHit, osvItems } from "./osv.js";
import { COSIGN_VULN_TYPES, INTOTO_VULNS_TYPE, readCosignVuln, readIntotoVulns } from "./reports.js";
import type { SbomPackage } from "./sbom.js";
import type { ScanResult, VulnerabilityReport, VulnItem, VulnSeverity, VulnSourceInfo } from "./types.js";

/** What the OSV matcher found for an SBOM's packages (fetched by the I/O layer). */
export type OsvOutcome =
  | {
      ok: true;
      /** The SBOM statement matched. */
      foundVia: string;
      packages: SbomPackage[];
      hits: OsvHit[][];
      records: ReadonlyMap<string, unknown>;
    }
  | { ok: false; foundVia: string; code: string; message: string };

/** Inputs beyond the facts and trust report. */
export interface VulnInputs {
  /** A scanner report the operator gave (`check --vuln-report FILE`), already read and bound to this image. */
  report?: ScanResult;
  /** The SBOM matched through OSV, when the policy's scanner is `osv` and an SBOM was found. */
  osv?: OsvOutcome;
}

/** The summary and what the checks judge from it. */
export interface VulnAssessment {
  report: VulnerabilityReport;
  /** True when at least one trusted source gave data: without one the image gets `vuln.no-data`. */
  trusted: boolean;
  /** The newest scan time among trusted sources, RFC 3339. */
  newestScan?: string;
  /** One-line reasons sources were refused or could not be read. */
  problems: string[];
}

const isVulnScan = (t: string) => COSIGN_VULN_TYPES.includes(t) || t === INTOTO_VULNS_TYPE;

/** The predicate types of SBOMs (SPDX and CycloneDX), as attestations name them. */
export function isSbomType(t: string): boolean {
  return /spdx/i.test(t) || /cyclonedx/i.test(t);
}

/** Who vouches for a statement: its verified signer, or the trusted signature over the index holding it. */
function signerOf(s: StatementRecord, indexSigner: string | null): string | null {
  if (s.signer) return s.signer;
  return s.artifactKind === "buildkit" ? indexSigner : null;
}

/**
 * The signer of a trusted signature over the image index, when the image is one: BuildKit keeps
 * its attestation manifests in that index, so a signature over it covers them.
 */
function indexSignerOf(
  facts: Pick<ImageFacts, "digest" | "manifestDigest">,
  trust: TrustReport,
): string | null {
  if (!facts.digest || facts.digest === facts.manifestDigest) return null;
  const sig = trust.signatures.find((s) => s.status === "verified" && s.signedDigest === facts.digest);
  return sig ? (sig.signer ?? "trusted signature") : null;
}

const emptyCounts = (): Record<VulnSeverity, number> => ({
  critical: 0,
  high: 0,
  medium: 0,
  low: 0,
  unknown: 0,
});

function key(item: VulnItem): string {
  return `${item.id}\u0000${item.package}\u0000${item.installed}`;
}

/** The image an exception glob is matched against. */
export interface VulnImage {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

function waive(items: VulnItem[], policy: Policy, image: VulnImage, now: Date): VulnItem[] {
  const today = now.toISOString().slice(0, 10);
  const active = policy.exceptions.filter(
    (e) =>
      e.vulnerability !== undefined && e.expires >= today && matchingGlob([e.image], image) !== undefined,
  );
  if (active.length === 0) return items;
  return items.map((item) => {
    const ids = [item.id, ...item.aliases];
    const ex = active.find((e) => ids.includes(e.vulnerability as string));
    return ex ? { ...item, waived: { reason: ex.reason, expires: ex.expires } } : item;
  });
}

const RANK: Record<VulnSeverity, number> = { critical: 4, high: 3, medium: 2, low: 1, unknown: 0 };

/** Worst first: severity, then score, then fixable before unfixed, then id. */
export function worstFirst(a: VulnItem, b: VulnItem): number {
  return (
    RANK[b.severity] - RANK[a.severity] ||
    (b.cvss ?? -1) - (a.cvss ?? -1) ||
    Number(b.fixed !== null) - Number(a.fixed !== null) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Counts affected, unwaived items by severity. */
export function countItems(items: readonly VulnItem[]): Record<VulnSeverity, number> {
  const counts = emptyCounts();
  for (const i of items) if (i.status === "affected" && !i.waived) counts[i.severity]++;
  return counts;
}

/**
 * Assess the vulnerability data for an image; null when the policy turns it off (`sources: []`)
 * and no report was given.
 */
export function assessVulnerabilities(
  facts: Pick<ImageFacts, "digest" | "manifestDigest" | "configDigest">,
  image: VulnImage,
  trust: TrustReport,
  policy: Policy,
  now: Date,
  inputs: VulnInputs = {},
): VulnAssessment | null {
  const conf = policy.vulnerabilities;
  if (conf.sources.length === 0 && !inputs.report) return null;
  const trustUnsigned = conf.trustUnsigned;
  const indexSigner = indexSignerOf(facts, trust);
  const statements = (trust.statements ?? []).filter((s) => s.subjectMatches === true);
  const sources: VulnSourceInfo[] = [];
  const problems: string[] = [];
  const byKey = new Map<string, VulnItem>();
  let trusted = false;
  let newestScan: string | undefined;
  const add = (info: VulnSourceInfo, items: readonly VulnItem[], counts: boolean) => {
    sources.push(info);
    for (const i of items) if (!byKey.has(key(i))) byKey.set(key(i), i);
    if (!counts) return;
    trusted = true;
    if (info.scannedAt && (!newestScan || info.scannedAt > newestScan)) newestScan = info.scannedAt;
  };

  if (inputs.report) {
    const r = inputs.report;
    // The operator gave this file for this image on the command line: it vouches for it.
    add(
      {
        kind: "report",
        signedBy: null,
        scanner: r.scanner,
        ...(r.scannedAt ? { scannedAt: r.scannedAt } : {}),
      },
      r.items,
      true,
    );
  }

  const vex: VexStatement[] = [];
  for (const kind of conf.sources) {
    if (kind === "attestation") {
      for (const s of statements.filter((x) => isVulnScan(x.predicateType))) {
        const read = COSIGN_VULN_TYPES.includes(s.predicateType)
          ? readCosignVuln(s.predicate)
          : readIntotoVulns(s.predicate);
        if (!read.ok) {
          problems.push(`vulnerability attestation ${clip(s.foundVia, 80)}: ${read.reason}`);
          continue;
        }
        const signedBy = signerOf(s, indexSigner);
        const scannedAt = read.value.scannedAt;
        add(
          {
            kind: "attestation",
            predicateType: s.predicateType,
            signedBy,
            scanner: read.value.scanner,
            ...(scannedAt ? { scannedAt } : {}),
          },
          read.value.items,
          signedBy !== null || trustUnsigned,
        );
      }
    } else if (kind === "vex") {
      for (const s of statements.filter((x) => isOpenVexType(x.predicateType))) {
        const read = readOpenVex(s.predicate);
        if (!read.ok) {
          problems.push(`VEX ${clip(s.foundVia, 80)}: ${read.reason}`);
          continue;
        }
        const signedBy = signerOf(s, indexSigner);
        sources.push({ kind: "vex", predicateType: s.predicateType, signedBy });
        // VEX only ever lowers a status: unsigned VEX would clear findings, so it needs a signer.
        if (signedBy !== null || trustUnsigned) vex.push(...read.value.statements);
        else problems.push(`VEX ${clip(s.foundVia, 80)} is unsigned: its statements were not applied`);
      }
    } else if (kind === "sbom" && inputs.osv) {
      const o = inputs.osv;
      const s = statements.find((x) => x.foundVia === o.foundVia && isSbomType(x.predicateType));
      if (!o.ok) {
        problems.push(
          `SBOM ${clip(o.foundVia, 80)} could not be matched (${o.code}): ${clip(o.message, 160)}`,
        );
        continue;
      }
      const signedBy = s ? signerOf(s, indexSigner) : null;
      add(
        {
          kind: "sbom",
          ...(s ? { predicateType: s.predicateType } : {}),
          signedBy,
          scanner: "osv",
          scannedAt: now.toISOString(),
        },
        osvItems(o.packages, o.hits, o.records),
        signedBy !== null || trustUnsigned,
      );
    }
  }

  const vexImage: VexImage = {
    digests: [facts.digest, facts.manifestDigest, facts.configDigest].filter((d): d is string => !!d),
    repository: `${image.registry}/${image.repository}`,
  };
  const applied = vex.length ? applyVex([...byKey.values()], vex, vexImage) : [...byKey.values()];
  const items = waive(applied, policy, image, now).sort(worstFirst);
  return {
    report: { sources, counts: countItems(items), items },
    trusted,
    ...(newestScan ? { newestScan } : {}),
    problems,
  };
}

/** True when a scanner report names none of the image's digests but names some other digest. */
export function reportNamesOtherImage(
  scan: ScanResult,
  facts: Pick<ImageFacts, "digest" | "manifestDigest" | "configDigest">,
): boolean {
  if (scan.digests.length === 0) return false;
  const mine = [facts.digest, facts.manifestDigest, facts.configDigest];
  return !scan.digests.some((d) => mine.includes(d));
}
