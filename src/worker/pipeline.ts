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
import { CodedError, oneLine } from "../errors.js";
import type { ImageFacts, ImageSource, Platform } from "../facts/model.js";
import { formatPlatform, parsePlatform } from "../facts/model.js";
import type { PublisherLookup } from "../hub/client.js";
import { evaluate } from "../policy/evaluate.js";
import type { Policy } from "../policy/schema.js";
import { parseReference } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import { EMPTY_TRUST } from "../trust/types.js";
import type { TrustMaterial } from "../trust/verify.js";
import { verifyTrust } from "../trust/verify.js";

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
  /** Monotonic milliseconds, for durations. */
  clock?: () => number;
}

/** Per-check options. */
export interface CheckOptions {
  /** `os/arch[/variant]`; the policy's platform by default. */
  platform?: string;
  signal?: AbortSignal;
  /** On a re-check of an approved digest (`watch`): the findings its approval saw, for `watch.changed`. */
  approval?: CheckContext["approval"];
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

  // Independent look-ups run together: the image itself, its publisher on Hub, and what the tag
  // resolved to here before. None waits for another.
  const [gathered, hub, lastKnown] = await Promise.all([
    deps.source.gather(ref, { platform, signal: options.signal }).then(
      (facts) => ({ facts }) as const,
      (error: unknown) => ({ error }) as const,
    ),
    lookupPublisher(deps.publisher, ref, options.signal),
    tag && deps.lastKnownDigest
      ? Promise.resolve(deps.lastKnownDigest(repository, tag)).catch(() => null)
      : null,
  ]);

  if ("error" in gathered) {
    if (options.signal?.aborted) throw gathered.error;
    const gatherError = describeError(gathered.error);
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
  try {
    trust = verifyTrust(facts, deps.trust, now);
    findings = runChecks(facts, {
      policy: deps.policy,
      now,
      trust,
      lastKnownDigest: lastKnown,
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
  });
  return { report, facts };
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
