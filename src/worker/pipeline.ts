/**
 * The check itself: reference -> gather facts -> verify trust -> run checks -> evaluate -> report.
 * Shared by the CLI and the worker; everything it needs is passed in (sources, policy, clock), so
 * it has no configuration of its own. A check that cannot finish never yields `pass`: gathering
 * errors become `check.incomplete` (or `trust.digest-mismatch`) findings, never a silent success.
 */

import { buildReport } from "../checks/build-report.js";
import { findingsForGatherError, runChecks } from "../checks/index.js";
import type { Report } from "../checks/report.js";
import { MAX_SCAN_CHARS } from "../checks/secrets.js";
import type { CheckContext, Finding } from "../checks/types.js";
import { CodedError, isCoded, oneLine } from "../errors.js";
import type { ImageFacts, ImageSource, Platform } from "../facts/model.js";
import { formatPlatform, parsePlatform } from "../facts/model.js";
import type { PublisherLookup } from "../hub/client.js";
import { evaluate } from "../policy/evaluate.js";
import type { Policy } from "../policy/schema.js";
import { parseReference } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import type { TrustReport } from "../trust/types.js";
import { EMPTY_TRUST } from "../trust/types.js";
import { hasTrustArtifacts, unsignedTrust } from "../trust/unsigned.js";
import type { TrustMaterial } from "../trust/verify.js";
import {
  assessVulnerabilities,
  isSbomType,
  type OsvOutcome,
  type VulnAssessment,
  type VulnInputs,
} from "../vuln/assess.js";
import { type VulnCache, vulnCacheKey } from "../vuln/cache.js";
import type { OsvHit } from "../vuln/osv.js";
import { type SbomPackage, sbomDocument, sbomPackages } from "../vuln/sbom.js";

/**
 * The most entries of each kind the checks read. Far above any real image (Docker stops at 127
 * layers; images carry tens of env vars and labels), low enough that a hostile config cannot hold
 * the checks (and serve's event loop) for seconds. Anything beyond is cut and the report says
 * `check.incomplete`, so such an image cannot pass.
 */
export const FACT_LIMITS = { env: 1024, labels: 1024, history: 2048, exposedPorts: 1024, volumes: 1024 };

/** `facts` with every list cut to FACT_LIMITS; what was cut is named in `incomplete`. */
export function boundFacts(facts: ImageFacts): ImageFacts {
  const c = facts.config;
  const cut: string[] = [];
  const bound = <T>(what: keyof typeof FACT_LIMITS, list: T[]): T[] => {
    if (list.length <= FACT_LIMITS[what]) return list;
    cut.push(`${list.length} ${what} entries (only the first ${FACT_LIMITS[what]} were checked)`);
    return list.slice(0, FACT_LIMITS[what]);
  };
  const labels = Object.entries(c.labels);
  const bounded: ImageFacts = {
    ...facts,
    config: {
      ...c,
      env: bound("env", c.env),
      labels: labels.length > FACT_LIMITS.labels ? Object.fromEntries(bound("labels", labels)) : c.labels,
      exposedPorts: bound("exposedPorts", c.exposedPorts),
      volumes: bound("volumes", c.volumes),
    },
    history: bound("history", facts.history),
  };
  // A value longer than the secret scanner reads was not fully checked for secrets.
  const long = [
    ...bounded.config.env,
    ...Object.values(bounded.config.labels),
    ...bounded.history.map((h) => h.createdBy),
  ].filter((v) => v.length > MAX_SCAN_CHARS).length;
  if (long > 0)
    cut.push(`${long} values longer than ${MAX_SCAN_CHARS} characters (only their start was scanned)`);
  if (cut.length === 0) return facts;
  const message = `the image config is unreasonably large: ${cut.join(", ")}`;
  return { ...bounded, incomplete: [...facts.incomplete, { part: "limits", code: "TOO_LARGE", message }] };
}

/** Everything a check needs from outside. */
export interface CheckDeps {
  policy: Policy;
  /** Short hash of the policy; reports are keyed by digest + policy version. */
  policyVersion: string;
  source: ImageSource;
  /** Docker Hub publisher look-up; optional (then the publisher is judged from the policy alone). */
  publisher?: PublisherLookup;
  trust: TrustMaterial;
  /** The digest this repository:tag resolved to at its last check or decision here (feeds `tag.moved`). */
  lastKnownDigest?: (repository: string, tag: string) => string | null | Promise<string | null>;
  now: () => Date;
  /** Matches an SBOM's packages (the OSV client), when the policy's scanner is `osv`. */
  osv?: SbomMatcher;
  /** Monotonic milliseconds, for durations. */
  clock?: () => number;
  /**
   * Vulnerability data already read, per (manifest digest, source, data version); one per process,
   * so a re-check of the same image neither parses its SBOM again nor asks OSV. None: no caching.
   */
  vulnCache?: VulnCache<OsvOutcome>;
}

/** What matches SBOM packages against known vulnerabilities (src/osv's OsvClient). */
export interface SbomMatcher {
  match(
    packages: readonly SbomPackage[],
    signal?: AbortSignal,
  ): Promise<{ hits: OsvHit[][]; records: Map<string, unknown> }>;
}

/** Per-check options. */
export interface CheckOptions {
  /**
   * `os/arch[/variant]`, asked for explicitly (`--platform`): strict, so a single-platform image of
   * another platform is PLATFORM_NOT_FOUND. Absent: the policy's platform, picked from an index
   * when there is one, while a single-platform image is checked whatever its platform.
   */
  platform?: string;
  signal?: AbortSignal;
  /**
   * Reads vulnerability data given for this image (`check --vuln-report`), once its digests are
   * known; throws a coded error when the data is about another image.
   */
  vulnInputs?: (facts: ImageFacts) => VulnInputs;
  /** On a re-check of an approved digest (`watch`): the findings its approval saw, for `watch.changed`. */
  approval?: CheckContext["approval"];
  /** The digest a tag is expected to still name (a re-check: the approved one), passed to the source. */
  knownDigest?: string;
}

/** The result: the report, and the facts when they could be gathered. */
export interface CheckOutcome {
  report: Report;
  facts: ImageFacts | null;
  /** Set when facts could not be gathered (the report then carries `check.incomplete`). */
  gatherError?: { code: string; message: string };
  /** A registry's Retry-After, when gathering failed with TOO_MANY_REQUESTS. */
  retryAfterMs?: number;
}

/** Thrown for a platform string that is not `os/arch[/variant]`. */
export class CheckInputError extends CodedError<"INVALID_PLATFORM"> {}

/** Parse a platform option, or throw a coded one-line error. */
export function platformOf(text: string): Platform {
  const p = parsePlatform(text);
  if (!p)
    throw new CheckInputError(
      "INVALID_PLATFORM",
      `invalid platform "${text}": expected os/arch or os/arch/variant, e.g. linux/arm64/v8`,
    );
  return p;
}

/**
 * Check one image. Throws only for a malformed reference or platform (usage errors) and for an
 * abort; every other failure becomes a report that cannot pass.
 */
export async function checkImage(
  reference: string,
  deps: CheckDeps,
  options: CheckOptions = {},
): Promise<CheckOutcome> {
  const ref = parseReference(reference);
  const platform = platformOf(options.platform ?? deps.policy.platform);
  const clock = deps.clock ?? (() => performance.now());
  const started = clock();
  const now = deps.now();
  const tag = ref.tag ?? (ref.digest ? undefined : "latest");
  const repository = `${ref.registry}/${ref.repository}`;

  // One deadline for the whole check (policy limits.checkSeconds). The registry source holds every
  // request, wait and retry to it itself (timeLimitMs); the timer also stops what has no such
  // notion (the engine, the Hub look-up), so nothing outlives it.
  const timeLimitMs = deps.policy.limits.checkSeconds * 1000;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeLimitMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;

  // Independent look-ups run together: the image itself, its publisher on Hub, and what the tag
  // resolved to here before. None waits for another.
  const [gathered, hub, lastKnown] = await Promise.all([
    deps.source
      .gather(ref, {
        platform,
        signal,
        timeLimitMs,
        ...(options.platform !== undefined ? { strictPlatform: true } : {}),
        ...(options.knownDigest ? { knownDigest: options.knownDigest } : {}),
      })
      .then(
        (facts) => ({ facts }) as const,
        (error: unknown) => ({ error }) as const,
      ),
    lookupPublisher(deps.publisher, ref, signal),
    tag && deps.lastKnownDigest
      ? Promise.resolve(deps.lastKnownDigest(repository, tag)).catch(() => null)
      : null,
  ]).finally(() => clearTimeout(timer));

  if ("error" in gathered) {
    if (options.signal?.aborted) throw gathered.error;
    // Stopped by the deadline (rather than failing on its own before it): say DEADLINE.
    const stopped = deadline.signal.aborted && isCoded(gathered.error, "ABORTED", "DEADLINE", "TIMEOUT");
    const gatherError = stopped
      ? {
          code: "DEADLINE",
          message: `the check did not finish within ${deps.policy.limits.checkSeconds} s (policy limits.checkSeconds)`,
        }
      : describeError(gathered.error);
    const evaluation = evaluate(findingsForGatherError(gatherError), deps.policy, imageOf(ref), now);
    const report = buildReport({
      reference,
      ref,
      facts: null,
      evaluation,
      trust: EMPTY_TRUST,
      checkedAt: now,
      durationMs: Math.round(clock() - started),
      policyVersion: deps.policyVersion,
      platform: formatPlatform(platform),
    });
    const retryAfterMs = (gathered.error as { retryAfterMs?: unknown }).retryAfterMs;
    return {
      report,
      facts: null,
      gatherError,
      retryAfterMs: typeof retryAfterMs === "number" ? retryAfterMs : undefined,
    };
  }

  const bounded = boundFacts(gathered.facts);
  const facts: ImageFacts = hub ? { ...bounded, hub } : bounded;
  let findings: Finding[];
  let trust = EMPTY_TRUST;
  let vulnerabilities: VulnAssessment | null = null;
  // Given data about another image is a usage error, not a finding: it must not be silently ignored.
  const vulnInputs = options.vulnInputs?.(facts) ?? {};
  try {
    // The verifiers (and the Sigstore libraries under them) load only when there is something to verify.
    trust = hasTrustArtifacts(facts)
      ? (await import("../trust/verify.js")).verifyTrust(facts, deps.trust, now)
      : unsignedTrust(facts);
    const image = { ...imageOf(ref), digest: facts.digest };
    vulnerabilities = assessVulnerabilities(facts, image, trust, deps.policy, now, vulnInputs);
    // Sources are tried in order: the SBOM is matched (network) only when nothing before it gave trusted data.
    if (vulnerabilities && !vulnerabilities.trusted) {
      const osv = await matchSbom(facts, trust, deps, options.signal);
      if (osv)
        vulnerabilities = assessVulnerabilities(facts, image, trust, deps.policy, now, {
          ...vulnInputs,
          osv,
        });
    }
    findings = runChecks(facts, {
      policy: deps.policy,
      now,
      trust,
      lastKnownDigest: lastKnown,
      vulnerabilities,
      approval: options.approval ?? null,
    });
  } catch (err) {
    // A bug in a check must not turn into a silent pass: report it as an incomplete check.
    findings = findingsForGatherError({ code: "CHECK_FAILED", message: oneLine(err) });
  }
  const evaluation = evaluate(findings, deps.policy, { ...imageOf(ref), digest: facts.digest }, now);
  const report = buildReport({
    reference,
    ref,
    facts,
    evaluation,
    trust,
    checkedAt: now,
    durationMs: Math.round(clock() - started),
    policyVersion: deps.policyVersion,
    platform: formatPlatform(facts.platform ?? platform),
    vulnerabilities: vulnerabilities?.report ?? null,
  });
  return { report, facts };
}

/** The image's SBOM matched through the scanner, or undefined when there is none to match or no scanner. */
async function matchSbom(
  facts: Pick<ImageFacts, "manifestDigest">,
  trust: TrustReport,
  deps: CheckDeps,
  signal?: AbortSignal,
): Promise<OsvOutcome | undefined> {
  const conf = deps.policy.vulnerabilities;
  if (!deps.osv || conf.scanner.kind !== "osv" || !conf.sources.includes("sbom")) return undefined;
  const sboms = (trust.statements ?? []).filter(
    (s) => s.subjectMatches === true && isSbomType(s.predicateType),
  );
  // A signed SBOM first: only it can make the data complete.
  const statement = sboms.find((s) => s.signer !== null) ?? sboms[0];
  if (!statement) return undefined;
  const { foundVia } = statement;
  // The data's version: the SBOM blob (its digest verified when fetched), who vouched for it, and
  // which scanner matched it. Only a match that succeeded is kept: a failure is asked again.
  const key =
    statement.blobDigest && facts.manifestDigest
      ? vulnCacheKey(
          facts.manifestDigest,
          "sbom",
          `${statement.blobDigest}\u0000${statement.signer ?? ""}\u0000${foundVia}\u0000${conf.scanner.url}`,
        )
      : undefined;
  const cached = key ? deps.vulnCache?.get(key) : undefined;
  if (cached) return cached;
  const parsed = sbomPackages(sbomDocument(statement.predicate));
  if (!parsed.ok) return { ok: false, foundVia, code: "BAD_SBOM", message: parsed.reason };
  if (parsed.value.packages.length === 0)
    return {
      ok: false,
      foundVia,
      code: "NO_PACKAGES",
      message: `none of its packages is of an ecosystem the scanner matches (${parsed.value.unmatched} skipped)`,
    };
  try {
    const found = await deps.osv.match(parsed.value.packages, signal);
    const outcome: OsvOutcome = { ok: true, foundVia, packages: parsed.value.packages, ...found };
    if (key && deps.vulnCache) deps.vulnCache.set(key, outcome, estimatedBytes(outcome));
    return outcome;
  } catch (err) {
    if (signal?.aborted) throw err;
    return { ok: false, foundVia, ...describeError(err) };
  }
}

/** About what an outcome holds in memory: its packages and records as JSON. */
function estimatedBytes(outcome: Extract<OsvOutcome, { ok: true }>): number {
  let bytes = JSON.stringify(outcome.packages).length + JSON.stringify(outcome.hits).length;
  for (const record of outcome.records.values()) bytes += JSON.stringify(record).length;
  return bytes;
}

function imageOf(ref: ImageReference): {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
} {
  return {
    registry: ref.registry,
    repository: ref.repository,
    tag: ref.tag ?? (ref.digest ? undefined : "latest"),
    digest: ref.digest,
  };
}

async function lookupPublisher(
  publisher: PublisherLookup | undefined,
  ref: ImageReference,
  signal?: AbortSignal,
) {
  if (!publisher || ref.registry !== "docker.io") return undefined;
  try {
    return await publisher.lookup(ref, signal);
  } catch (err) {
    return { error: describeError(err) };
  }
}

/** The code and one-line message of any error; unknown errors get code INTERNAL. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof CodedError) return { code: err.code, message: oneLine(err) };
  return { code: "INTERNAL", message: oneLine(err) };
}
