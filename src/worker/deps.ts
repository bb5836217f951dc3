/**
 * Builds what a check needs (source, publisher look-up, trust material, policy version) once per
 * process, for the CLI and the worker alike, and the CheckRunner the worker's check job calls.
 */
import { dirname, resolve } from "node:path";
import { createSource, type SourceKind } from "../cli/sources.js";
import type { Config } from "../config.js";
import { CodedError, isCoded, oneLine } from "../errors.js";
import { HubClient } from "../hub/client.js";
import { PolicyError } from "../policy/errors.js";
import { policyVersion } from "../policy/evaluate.js";
import type { Policy } from "../policy/schema.js";
import { readRegularFile } from "../read-file.js";
import { trustMaterialFromPolicy } from "../trust/material.js";
import type { CheckDeps } from "./pipeline.js";
import { checkImage } from "./pipeline.js";
import { isTemporary } from "./retry.js";
import type { CheckRunner } from "./types.js";

/** A trusted root file larger than this is not a trusted root (the public-good one is ~7 KiB). */
const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;

/** The policy's trusted root could not be read or parsed. */
export class TrustedRootError extends CodedError<"TRUSTED_ROOT_UNREADABLE"> {}

/** What `createCheckDeps` needs. */
export interface CheckDepsInput {
  policy: Policy;
  /** Where the policy came from (a file path, or "built-in default"): `trust.trustedRoot` is relative to it. */
  policySource: string;
  config: Config;
  env: NodeJS.ProcessEnv;
  cwd: string;
  sourceKind?: SourceKind;
  lastKnownDigest?: CheckDeps["lastKnownDigest"];
  now?: () => Date;
}

/** Build the check dependencies; loads only the modules the chosen source needs. */
export async function createCheckDeps(input: CheckDepsInput): Promise<CheckDeps> {
  const [source, trustedRoot] = await Promise.all([
    createSource(input.sourceKind ?? "registry", {
      policy: input.policy,
      config: input.config,
      env: input.env,
    }),
    readTrustedRoot(input),
  ]);
  const vulns = input.policy.vulnerabilities;
  const osv =
    vulns.scanner.kind === "osv" && vulns.sources.includes("sbom")
      ? new (await import("../osv/client.js")).OsvClient({
          baseUrl: vulns.scanner.url,
          // The OSV URL passes the same address guard as registries: a private address only when listed.
          allowPrivate: input.policy.registries.allowPrivate,
          allowInsecure: input.policy.registries.allowInsecure,
        })
      : undefined;
  return {
    policy: input.policy,
    policyVersion: policyVersion(input.policy),
    source,
    // One per process, beside the OSV client: a re-check of the same image's SBOM asks OSV nothing.
    ...(osv ? { osv, vulnCache: new (await import("../vuln/cache.js")).VulnCache(Date.now) } : {}),
    publisher: new HubClient({ baseUrl: input.config.hubApiUrl }),
    trust: trustMaterialFromPolicy(input.policy, trustedRoot),
    lastKnownDigest: input.lastKnownDigest,
    now: input.now ?? (() => new Date()),
  };
}

async function readTrustedRoot(input: CheckDepsInput): Promise<unknown> {
  const path = input.policy.trust.trustedRoot;
  if (path === null) return undefined;
  const base = input.policySource.startsWith("/") ? dirname(input.policySource) : input.cwd;
  const file = resolve(base, path);
  const where = `${input.policySource}: trust.trustedRoot: ${path}`;
  let buf: Buffer;
  try {
    buf = await readRegularFile(file, MAX_TRUSTED_ROOT_BYTES);
  } catch (err) {
    // Not a regular file, or too large: the policy names the wrong thing (exit 64), not a fault here.
    if (isCoded(err, "NOT_REGULAR", "TOO_LARGE"))
      throw new PolicyError("INVALID_POLICY", `${where} ${err.message} (${file})`, { cause: err });
    throw new TrustedRootError("TRUSTED_ROOT_UNREADABLE", `${where} ${oneLine(err)} (${file})`, {
      cause: err,
    });
  }
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw new TrustedRootError("TRUSTED_ROOT_UNREADABLE", `${where}: cannot be used (${oneLine(err)})`, {
      cause: err,
    });
  }
}

/**
 * The worker's CheckRunner over the pipeline. The registry dependencies are built before it
 * returns, so a broken trust setup (an unreadable trusted root) stops start-up instead of failing
 * every check; other source kinds are built on first use. A temporary failure to gather (timeout,
 * network, 5xx, 429) is thrown so the worker retries it with backoff, until the last attempt, which
 * like any other outcome (a permanent failure to gather included) is a report that cannot pass.
 */
export async function createCheckRunner(input: Omit<CheckDepsInput, "sourceKind">): Promise<CheckRunner> {
  const built = new Map<SourceKind, Promise<CheckDeps>>();
  const depsFor = (kind: SourceKind): Promise<CheckDeps> => {
    let deps = built.get(kind);
    if (!deps) {
      deps = createCheckDeps({ ...input, sourceKind: kind });
      // A failed build is not cached: the next job tries again.
      deps.catch(() => built.delete(kind));
      built.set(kind, deps);
    }
    return deps;
  };
  await depsFor("registry");
  return async (job, signal) => {
    const kind = (job.source ?? "registry") as SourceKind;
    const deps = await depsFor(kind);
    const knownDigest = job.knownDigest;
    const outcome = await checkImage(
      job.reference,
      knownDigest ? { ...deps, lastKnownDigest: () => knownDigest } : deps,
      {
        platform: job.platform,
        signal,
        ...(job.approval ? { approval: job.approval } : {}),
        ...(knownDigest ? { knownDigest } : {}),
      },
    );
    const err = outcome.gatherError;
    if (err && isTemporary(err.code) && !job.lastAttempt) {
      throw Object.assign(new CodedError(err.code, err.message), { retryAfterMs: outcome.retryAfterMs });
    }
    return outcome.report;
  };
}
