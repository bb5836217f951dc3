/**
 * Crafted facts for check tests: `cleanFacts()` is an image that a reviewer would sign (non-root,
 * healthcheck, version tag pinned by digest, source and revision labels, recent, small, no
 * interpreter), and `cleanContext()` trusts it (a verified signature, SLSA provenance with source
 * and revision, an SBOM, its publisher trusted by policy). Together they evaluate to `pass` with
 * nothing above info. Each call returns fresh objects, so a test can change one thing.
 */
import { buildReport } from "../../src/checks/build-report.js";
import { runChecks } from "../../src/checks/index.js";
import type { Report } from "../../src/checks/report.js";
import type { CheckContext } from "../../src/checks/types.js";
import { assessmentFor } from "../../src/checks/vuln.js";
import type { HistoryEntry, ImageFacts } from "../../src/facts/model.js";
import { evaluate, policyVersion } from "../../src/policy/evaluate.js";
import type { Policy } from "../../src/policy/schema.js";
import { parsePolicy } from "../../src/policy/yaml.js";
import type { TrustReport } from "../../src/trust/types.js";

/** The clock every check test uses. */
export const NOW = new Date("2026-11-30T12:00:00.000Z");

/** The clean image's digest (an index) and its platform manifest. */
export const DIGEST = `sha256:${"a1".repeat(32)}`;
export const MANIFEST_DIGEST = `sha256:${"b2".repeat(32)}`;
export const CONFIG_DIGEST = `sha256:${"c3".repeat(32)}`;
export const REVISION = "4f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39";
export const SOURCE = "https://github.com/acme/app";

const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();

/** A history line as BuildKit records it. */
export function buildkit(createdBy: string, emptyLayer = false): HistoryEntry {
  return {
    created: daysAgo(10),
    createdBy: `${createdBy} # buildkit`,
    comment: "buildkit.dockerfile.v0",
    emptyLayer,
  };
}

/** A history line as the legacy builder records a RUN. */
export function legacyRun(script: string): HistoryEntry {
  return { created: daysAgo(10), createdBy: `/bin/sh -c ${script}`, emptyLayer: false };
}

/** The clean image. */
export function cleanFacts(): ImageFacts {
  return {
    reference: {
      registry: "registry.example.com",
      repository: "acme/app",
      tag: "1.4.2",
      digest: DIGEST,
      original: `registry.example.com/acme/app:1.4.2@${DIGEST}`,
    },
    source: "registry",
    digest: DIGEST,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifestDigest: MANIFEST_DIGEST,
    manifestMediaType: "application/vnd.oci.image.manifest.v1+json",
    configDigest: CONFIG_DIGEST,
    platform: { os: "linux", architecture: "amd64" },
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ],
    config: {
      user: "10001:10001",
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/app"],
      labels: {
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.revision": REVISION,
        "org.opencontainers.image.title": "app",
      },
      exposedPorts: ["8080/tcp"],
      volumes: ["/data"],
      healthcheck: { test: ["CMD", "/app/app", "healthcheck"], intervalNs: 30_000_000_000 },
      entrypoint: ["/app/app"],
      cmd: ["serve"],
      workingDir: "/app",
      created: daysAgo(10),
      os: "linux",
      architecture: "amd64",
    },
    history: [
      buildkit("COPY /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/"),
      buildkit("ENV APP_HOME=/app", true),
      buildkit("COPY --chown=10001:10001 app /app/app"),
      buildkit("WORKDIR /app", true),
      buildkit("USER 10001:10001", true),
      buildkit("EXPOSE map[8080/tcp:{}]", true),
      buildkit('HEALTHCHECK &{["CMD" "/app/app" "healthcheck"] "30s" "0s" "0s" "0s" \'\\x00\'}', true),
      buildkit('ENTRYPOINT ["/app/app"]', true),
      buildkit('CMD ["serve"]', true),
    ],
    layers: [
      {
        digest: `sha256:${"d4".repeat(32)}`,
        size: 200_000,
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      },
      {
        digest: `sha256:${"e5".repeat(32)}`,
        size: 9_800_000,
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      },
    ],
    compressedSize: 10_000_000,
    annotations: {},
    indexAnnotations: {},
    signatures: [
      {
        kind: "cosign",
        foundVia: `tag:sha256-${"a1".repeat(32)}.sig`,
        manifestDigest: `sha256:${"f6".repeat(32)}`,
        subjectDigest: DIGEST,
        manifestAnnotations: {},
        blobs: [],
      },
    ],
    attestations: [
      {
        kind: "buildkit",
        foundVia: "index",
        manifestDigest: `sha256:${"07".repeat(32)}`,
        subjectDigest: MANIFEST_DIGEST,
        predicateTypes: ["https://slsa.dev/provenance/v1", "https://spdx.dev/Document"],
        manifestAnnotations: { "vnd.docker.reference.type": "attestation-manifest" },
        blobs: [],
      },
    ],
    incomplete: [],
    stats: {
      requests: 5,
      bytes: 12_345,
      durationMs: 40,
      byKind: { "GET manifest": 2, "GET blob": 1, "HEAD manifest": 2 },
    },
  };
}

/** A Trivy JSON report (SchemaVersion 2) listing `vulns`, as `trivy image --format json` writes it. */
export function trivyReport(
  vulns: Record<string, unknown>[],
  createdAt = daysAgo(1),
): Record<string, unknown> {
  return {
    SchemaVersion: 2,
    Trivy: { Version: "0.50.1" },
    CreatedAt: createdAt,
    ArtifactName: "registry.example.com/acme/app:1.4.2",
    ArtifactType: "container_image",
    Metadata: { ImageID: CONFIG_DIGEST, RepoDigests: [`registry.example.com/acme/app@${DIGEST}`] },
    Results: [{ Target: "app (alpine 3.20.3)", Class: "os-pkgs", Type: "alpine", Vulnerabilities: vulns }],
  };
}

/** One Trivy vulnerability entry. */
export function trivyVuln(
  id: string,
  severity: string,
  fixed = "",
  pkg = "openssl",
): Record<string, unknown> {
  return {
    VulnerabilityID: id,
    PkgName: pkg,
    PkgIdentifier: { PURL: `pkg:apk/alpine/${pkg}@3.3.1-r0?arch=x86_64&distro=3.20.3` },
    InstalledVersion: "3.3.1-r0",
    ...(fixed ? { FixedVersion: fixed } : {}),
    Status: fixed ? "fixed" : "affected",
    Severity: severity,
  };
}

/** cosign's vuln predicate wrapping a Trivy report (trivy image --format cosign-vuln). */
export function cosignVulnPredicate(
  report: Record<string, unknown>,
  finished = daysAgo(1),
): Record<string, unknown> {
  return {
    invocation: { parameters: null, uri: "", event_id: "", "builder.id": "" },
    scanner: {
      uri: "pkg:github/aquasecurity/trivy@v0.50.1",
      version: "0.50.1",
      db: { uri: "", version: "" },
      result: report,
    },
    metadata: { scanStartedOn: finished, scanFinishedOn: finished },
  };
}

/** What the trust layer concludes about the clean image. */
export function cleanTrust(): TrustReport {
  return {
    signatures: [
      {
        kind: "cosign",
        foundVia: `tag:sha256-${"a1".repeat(32)}.sig`,
        status: "verified",
        signer: "release",
        signedDigest: DIGEST,
        detail: "ECDSA P-256 signature verified with trusted key release; payload names this digest",
      },
    ],
    attestations: [
      {
        foundVia: "index",
        predicateType: "https://slsa.dev/provenance/v1",
        kind: "slsa-provenance",
        sourceRepository: SOURCE,
        sourceRevision: REVISION,
        builder: "https://github.com/docker/buildx",
        signatureVerified: null,
        subjectMatches: true,
      },
      {
        foundVia: "index",
        predicateType: "https://spdx.dev/Document",
        kind: "sbom-spdx",
        runtimes: [],
        signatureVerified: null,
        subjectMatches: true,
      },
      {
        foundVia: "index",
        predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
        kind: "vuln-scan",
        signatureVerified: null,
        subjectMatches: true,
      },
    ],
    // A scan from yesterday that found nothing, in a BuildKit attestation of the signed index.
    statements: [
      {
        foundVia: "index",
        artifactKind: "buildkit",
        predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
        predicate: cosignVulnPredicate(trivyReport([])),
        signer: null,
        subjectMatches: true,
      },
    ],
    notes: [],
  };
}

/** Replaces the clean image's scan result with a report listing `vulns`, scanned at `when`. */
export function withScan(ctx: CheckContext, vulns: Record<string, unknown>[], when = daysAgo(1)): void {
  const statement = ctx.trust.statements![0]!;
  statement.predicate = cosignVulnPredicate(trivyReport(vulns, when), when);
}

/** The policy the clean image is judged under: its publisher trusted, everything else default. */
export function cleanPolicy(extra = ""): Policy {
  return parsePolicy(
    `registries:\n  trusted:\n    - docker.io/library/*\n    - registry.example.com/acme/*\n${extra}`,
    "test-policy.yaml",
  );
}

/** The check context for the clean image. */
export function cleanContext(): CheckContext {
  return { policy: cleanPolicy(), now: NOW, trust: cleanTrust(), lastKnownDigest: DIGEST };
}

/** The report the pipeline would build for these facts: every check, the policy, the report builder. */
export function reportFor(facts: ImageFacts = cleanFacts(), ctx: CheckContext = cleanContext()): Report {
  const evaluation = evaluate(runChecks(facts, ctx), ctx.policy, facts.reference, ctx.now);
  return buildReport({
    reference: facts.reference.original,
    ref: facts.reference,
    facts,
    evaluation,
    trust: ctx.trust,
    checkedAt: ctx.now,
    durationMs: 87,
    policyVersion: policyVersion(ctx.policy),
    platform: "linux/amd64",
    vulnerabilities: assessmentFor(facts, ctx)?.report ?? null,
  });
}
