/**
 * Source repository, revision and builder from SLSA provenance predicates:
 * v0.2 (https://slsa.dev/spec/v0.2/provenance) and v1 (https://slsa.dev/spec/v1.0/provenance),
 * as BuildKit writes them (docs/attestations/slsa-definitions.md: `configSource` for Git
 * contexts, `vcs` metadata for local ones) and as GitHub's generators do (`git+https://...@ref`
 * materials / resolved dependencies with a `gitCommit` or `sha1` digest, `workflow.repository`).
 */
import { arr, at, isObject, str } from "./parse.js";

/** What a provenance predicate says about where the image came from. */
export interface ProvenanceFacts {
  sourceRepository?: string;
  sourceRevision?: string;
  builder?: string;
}

/** True for the SLSA provenance predicate types. */
export function isSlsaProvenance(predicateType: string): boolean {
  return /^https:\/\/slsa\.dev\/provenance\/v(0\.\d|1)(\.\d+)?$/.test(predicateType);
}

const BUILDKIT_V02_METADATA = "https://mobyproject.org/buildkit@v1#metadata";

/** A commit-like digest from an in-toto DigestSet. */
function revisionOf(digest: unknown): string | undefined {
  for (const alg of ["gitCommit", "sha1", "sha256"]) {
    const v = str(digest, alg);
    if (v && /^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(v)) return v.toLowerCase();
  }
  return undefined;
}

/**
 * A repository URL from a source URI: `git+https://host/repo@refs/heads/main` and
 * `https://host/repo.git#ref` become `https://host/repo(.git)`; image and other package URLs
 * (`pkg:docker/...`, plain archives) are not sources.
 */
export function repositoryOf(uri: unknown): string | undefined {
  if (typeof uri !== "string" || uri.length > 2048) return undefined;
  let u = uri.trim();
  if (u.startsWith("pkg:")) return undefined;
  const git = u.startsWith("git+");
  if (git) u = u.slice(4);
  u = u.split("#")[0] ?? "";
  // `@ref` after the path (SLSA generators), not the `user@` of an scp-style or ssh URL.
  const atSign = u.lastIndexOf("@");
  if (git && atSign > u.indexOf("/", u.indexOf("//") + 2)) u = u.slice(0, atSign);
  const looksGit = git || /\.git$/.test(u) || /^(ssh|git):\/\//.test(u) || /^[\w.-]+@[\w.-]+:/.test(u);
  if (!looksGit && !/^https?:\/\/(github\.com|gitlab\.com|bitbucket\.org)\//.test(u)) return undefined;
  return u.length > 0 ? u : undefined;
}

function fromVcs(vcs: unknown, out: ProvenanceFacts): void {
  if (!isObject(vcs)) return;
  const source = str(vcs, "source");
  const revision = str(vcs, "revision");
  if (source && !out.sourceRepository) out.sourceRepository = repositoryOf(source) ?? source;
  if (revision && !out.sourceRevision) out.sourceRevision = revision;
}

function fromConfigSource(cs: unknown, out: ProvenanceFacts): void {
  const repo = repositoryOf(str(cs, "uri"));
  if (!repo) return;
  if (!out.sourceRepository) out.sourceRepository = repo;
  if (!out.sourceRevision && out.sourceRepository === repo) {
    const rev = revisionOf(at(cs, "digest"));
    if (rev) out.sourceRevision = rev;
  }
}

/** The first dependency that is a source repository, with its revision. */
function fromDependencies(deps: unknown[], out: ProvenanceFacts): void {
  for (const d of deps) {
    const repo = repositoryOf(str(d, "uri"));
    if (!repo) continue;
    if (!out.sourceRepository) out.sourceRepository = repo;
    if (!out.sourceRevision && out.sourceRepository === repo) {
      const rev = revisionOf(at(d, "digest"));
      if (rev) out.sourceRevision = rev;
    }
    if (out.sourceRevision) return;
  }
}

/** Reads a SLSA provenance predicate (v0.2 or v1). Unknown shapes yield empty facts. */
export function readProvenance(predicateType: string, predicate: unknown): ProvenanceFacts {
  const out: ProvenanceFacts = {};
  if (!isObject(predicate)) return out;
  if (predicateType.startsWith("https://slsa.dev/provenance/v0.")) {
    const builder = str(predicate, "builder", "id");
    if (builder) out.builder = builder;
    // Explicit VCS metadata first: it names the repository even for local-context builds.
    fromVcs(at(predicate, "metadata", BUILDKIT_V02_METADATA, "vcs"), out);
    fromConfigSource(at(predicate, "invocation", "configSource"), out);
    fromDependencies(arr(predicate, "materials"), out);
    return out;
  }
  const builder = str(predicate, "runDetails", "builder", "id");
  if (builder) out.builder = builder;
  fromVcs(at(predicate, "runDetails", "metadata", "buildkit_metadata", "vcs"), out);
  fromVcs(at(predicate, "buildDefinition", "internalParameters", "vcs"), out);
  fromConfigSource(at(predicate, "buildDefinition", "externalParameters", "configSource"), out);
  // GitHub Actions (actions/attest-build-provenance): workflow.repository and ref.
  const workflowRepo = str(predicate, "buildDefinition", "externalParameters", "workflow", "repository");
  if (workflowRepo && !out.sourceRepository) out.sourceRepository = workflowRepo;
  fromDependencies(arr(predicate, "buildDefinition", "resolvedDependencies"), out);
  return out;
}
