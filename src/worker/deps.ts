/**
 * Builds what a check needs (source, publisher look-up, trust material, policy version) once per
 * process, for the CLI and the worker alike, and the CheckRunner the worker's check job calls.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { SourceKind } from "../cli/sources.js";
import type { Config } from "../config.js";
import { CodedError } from "../errors.js";
import type { Policy } from "../policy/schema.js";
import type { CheckDeps } from "./pipeline.js";
import { checkImage } from "./pipeline.js";
import { TEMPORARY_CODES } from "./retry.js";
import type { CheckRunner } from "./types.js";

/** A trusted root file larger than this is not a trusted root (the public-good one is ~7 KiB). */
const MAX_TRUSTED_ROOT_BYTES = 1024 * 1024;

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
  const [{ createSource }, { HubClient }, { trustMaterialFromPolicy }, { policyVersion }] = await Promise.all(
    [
      import("../cli/sources.js"),
      import("../hub/client.js"),
      import("../trust/material.js"),
      import("../policy/evaluate.js"),
    ],
  );
  const [source, trustedRoot] = await Promise.all([
    createSource(input.sourceKind ?? "registry", {
      policy: input.policy,
      config: input.config,
      env: input.env,
    }),
    readTrustedRoot(input),
  ]);
  return {
    policy: input.policy,
    policyVersion: policyVersion(input.policy),
    source,
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
  try {
    const buf = await readFile(file);
    if (buf.byteLength > MAX_TRUSTED_ROOT_BYTES)
      throw new Error(`larger than ${MAX_TRUSTED_ROOT_BYTES} bytes`);
    return JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw new TrustedRootError(
      "TRUSTED_ROOT_UNREADABLE",
      `policy trust.trustedRoot ${path}: cannot be used (${(err as Error).message})`,
      { cause: err },
    );
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
      { platform: job.platform, signal, ...(job.approval ? { approval: job.approval } : {}) },
    );
    const err = outcome.gatherError;
    if (err && TEMPORARY_CODES.has(err.code) && !job.lastAttempt) {
      throw Object.assign(new CodedError(err.code, err.message), { retryAfterMs: outcome.retryAfterMs });
    }
    return outcome.report;
  };
}
