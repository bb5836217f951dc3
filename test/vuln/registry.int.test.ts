/**
 * Vulnerability data end to end, without pulling a layer: images pushed to the testbed registry
 * with a BuildKit SBOM in a signed index (matched through the loopback OSV fake that replays
 * osv-scanner's cassette), or a cosign `.att` scan attestation signed the way cosign signs
 * (DSSE PAE), checked through `checkImage` via a recording proxy whose log shows every request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { OsvClient } from "../../src/osv/client.js";
import { policyVersion } from "../../src/policy/evaluate.js";
import { parsePolicy } from "../../src/policy/yaml.js";
import { trustMaterialFromPolicy } from "../../src/trust/material.js";
import type { OsvOutcome } from "../../src/vuln/assess.js";
import { VulnCache } from "../../src/vuln/cache.js";
import { checkImage } from "../../src/worker/pipeline.js";
import { sourceFor } from "../registry/helpers.js";
import { cosignVulnPredicate, trivyReport, trivyVuln } from "../support/facts.js";
import { type FakeOsv, startFakeOsv } from "../support/fake-osv.js";
import {
  attachCosignAttestation,
  attachReferrer,
  type ImageSpec,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const testbed = getTestbed();
const NOW = new Date();
const trusted = makeKey("ecdsa-p256");
let proxy: RecordingProxy;
let osv: FakeOsv;

/** Records for the cassette's ids (osv-scanner records no detail answers; made here in OSV's shape). */
const RECORDS: Record<string, unknown> = {
  "ALPINE-CVE-2024-9143": {
    id: "ALPINE-CVE-2024-9143",
    upstream: ["CVE-2024-9143"],
    database_specific: { severity: "MEDIUM" },
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.7-r1" }] }],
      },
    ],
  },
  "ALPINE-CVE-2024-13176": {
    id: "ALPINE-CVE-2024-13176",
    database_specific: { severity: "LOW" },
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.8-r0" }] }],
      },
    ],
  },
  "ALPINE-CVE-2025-26519": {
    id: "ALPINE-CVE-2025-26519",
    database_specific: { severity: "HIGH" },
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "musl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1.2.4-r3" }] }],
      },
    ],
  },
};

/** An SPDX SBOM as syft writes it for the alpine 3.18 image the cassette recorded (binary name, source in upstream=). */
function alpineSbom(queries: FakeOsv["queries"]): object {
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: "alpine",
    documentNamespace: "https://example.invalid/alpine-3.18",
    creationInfo: { created: NOW.toISOString(), creators: ["Tool: syft-1.5.0"] },
    packages: queries.map((q, i) => ({
      name: `${q.package.name}-bin`,
      SPDXID: `SPDXRef-Package-${i}`,
      versionInfo: q.version,
      downloadLocation: "NOASSERTION",
      externalRefs: [
        {
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: `pkg:apk/alpine/${q.package.name}-bin@${q.version}?arch=x86_64&upstream=${q.package.name}&distro=alpine-3.18.9`,
        },
      ],
    })),
  };
}

const spec: ImageSpec = { config: { User: "10001" }, history: [{ created_by: "COPY app /app # buildkit" }] };

async function check(
  reference: string,
  trustUnsigned = false,
  vulnCache?: VulnCache<OsvOutcome>,
): Promise<Report> {
  const hosts = `["${proxy.host}", "${osv.host}"]`;
  const policy = parsePolicy(
    [
      `registries: { allowPrivate: ${hosts}, allowInsecure: ${hosts} }`,
      `trust: { keys: [{ name: release, pem: ${JSON.stringify(trusted.publicPem)} }] }`,
      `vulnerabilities: { scanner: { url: "${osv.url}" }, trustUnsigned: ${trustUnsigned} }`,
    ].join("\n"),
    "vuln-policy.yaml",
  );
  const client = new OsvClient({
    baseUrl: osv.url,
    allowPrivate: policy.registries.allowPrivate,
    allowInsecure: policy.registries.allowInsecure,
  });
  try {
    const outcome = await checkImage(reference, {
      policy,
      policyVersion: policyVersion(policy),
      source: sourceFor([proxy.host]),
      trust: trustMaterialFromPolicy(policy),
      osv: client,
      now: () => NOW,
      ...(vulnCache ? { vulnCache } : {}),
    });
    return outcome.report;
  } finally {
    client.close();
  }
}

/** Every blob the proxy was asked for that is a layer of one of these images. */
function layerFetches(layers: { digest: string }[]): string[] {
  // Not vacuous: the image has layers, and the proxy saw the gather's other blob reads.
  expect(layers.length).toBeGreaterThan(0);
  expect(proxy.requests.some((r) => r.path.includes("/blobs/"))).toBe(true);
  const digests = new Set(layers.map((l) => l.digest));
  return proxy.requests
    .filter((r) => /\/blobs\//.test(r.path) && digests.has(r.path.split("/").pop()!))
    .map((r) => `${r.method} ${r.path}`);
}

beforeAll(async () => {
  proxy = await startProxy(testbed.open.host);
  osv = await startFakeOsv(["image-TestCommand_Docker.yaml"], RECORDS);
});
afterEach(() => {
  expect(osv.unrecorded).toEqual([]);
});
afterAll(async () => {
  await proxy.stop();
  await osv.stop();
});

describe("vulnerabilities from the image's SBOM, matched through OSV", () => {
  it("when a trusted signature covers the index, reports what OSV knows, and fetches no layer", async () => {
    const repo = randomRepo("vuln");
    const index = await pushIndex(
      testbed.open,
      repo,
      {
        images: [{ spec, platform: { os: "linux", architecture: "amd64" } }],
        attestations: { sbom: alpineSbom(osv.queries) },
      },
      "3.18",
    );
    await signCosign(testbed.open, repo, index.digest, trusted.privateKey);
    proxy.requests.length = 0;
    const report = await check(`${proxy.host}/${repo}:3.18`);

    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({ kind: "sbom", signedBy: "release", scanner: "osv" }),
    ]);
    expect(report.vulnerabilities?.counts).toEqual({ critical: 0, high: 1, medium: 1, low: 1, unknown: 0 });
    expect(report.vulnerabilities?.items[0]).toMatchObject({
      id: "ALPINE-CVE-2025-26519",
      package: "musl",
      installed: "1.2.4-r2",
      fixed: "1.2.4-r3",
      severity: "high",
      purl: expect.stringContaining("pkg:apk/alpine/musl-bin@1.2.4-r2"),
    });
    const ids = report.findings.map((f) => f.id);
    expect(ids).toEqual(expect.arrayContaining(["vuln.high", "vuln.other"]));
    expect(ids).not.toContain("vuln.no-data");
    expect(layerFetches(index.images.flatMap((i) => i.layers))).toEqual([]);
  });

  it("when nothing signs it, still reports what OSV found, and says vuln.no-data", async () => {
    const repo = randomRepo("vuln");
    await pushIndex(
      testbed.open,
      repo,
      {
        images: [{ spec, platform: { os: "linux", architecture: "amd64" } }],
        attestations: { sbom: alpineSbom(osv.queries) },
      },
      "3.18",
    );
    const report = await check(`${proxy.host}/${repo}:3.18`);
    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({ kind: "sbom", signedBy: null }),
    ]);
    expect(report.vulnerabilities?.counts.high).toBe(1);
    expect(report.findings.map((f) => f.id)).toEqual(expect.arrayContaining(["vuln.high", "vuln.no-data"]));
  });
});

describe("the per-process cache of vulnerability data (manifest digest, source, data version)", () => {
  it("when the same image is checked again, its SBOM match is reused: no OSV request, the same items", async () => {
    const repo = randomRepo("vuln");
    const index = await pushIndex(
      testbed.open,
      repo,
      {
        images: [{ spec, platform: { os: "linux", architecture: "amd64" } }],
        attestations: { sbom: alpineSbom(osv.queries) },
      },
      "3.18",
    );
    await signCosign(testbed.open, repo, index.digest, trusted.privateKey);
    const cache = new VulnCache<OsvOutcome>(() => NOW.getTime());
    const ref = `${proxy.host}/${repo}:3.18`;
    // Each check() makes a fresh OSV client, so its own query and record caches are cold each time.
    const before = osv.log.length;
    const first = await check(ref, false, cache);
    const asked = osv.log.length - before;
    const second = await check(ref, false, cache);
    expect(asked).toBeGreaterThan(0);
    expect(osv.log.length - before).toBe(asked);
    expect(cache.stats).toEqual({ hits: 1, stores: 1 });
    expect(second.vulnerabilities).toEqual(first.vulnerabilities);

    // Without the cache, the same second check asks OSV again: the cache is what saved it.
    const third = osv.log.length;
    await check(ref);
    expect(osv.log.length - third).toBe(asked);
  });
});

describe("a cosign vulnerability attestation (.att), signed over DSSE PAE", () => {
  async function attested(key?: typeof trusted.privateKey) {
    const repo = randomRepo("vuln");
    const image = await pushImage(testbed.open, repo, spec, "1.0");
    const statement = {
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      subject: [{ name: `${repo}`, digest: { sha256: image.digest.slice("sha256:".length) } }],
      predicate: cosignVulnPredicate(
        trivyReport([trivyVuln("CVE-2024-5535", "CRITICAL", "3.3.1-r1")], NOW.toISOString()),
        NOW.toISOString(),
      ),
    };
    await attachCosignAttestation(testbed.open, repo, image.digest, statement, key);
    proxy.requests.length = 0;
    const report = await check(`${proxy.host}/${repo}:1.0`);
    return { image, report };
  }

  it("when the policy's key signed it, it is trusted data: vuln.critical, no vuln.no-data, no layer fetched", async () => {
    const { image, report } = await attested(trusted.privateKey);
    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({ kind: "attestation", signedBy: "release", scanner: "trivy 0.50.1" }),
    ]);
    const ids = report.findings.map((f) => f.id);
    expect(ids).toContain("vuln.critical");
    expect(ids).not.toContain("vuln.no-data");
    expect(layerFetches(image.layers)).toEqual([]);
  });

  it("when a stranger signed it, its findings stand but it clears nothing: vuln.no-data", async () => {
    const { report } = await attested();
    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({ kind: "attestation", signedBy: null }),
    ]);
    expect(report.findings.map((f) => f.id)).toEqual(
      expect.arrayContaining(["vuln.critical", "vuln.no-data"]),
    );
  });
});

describe("a hostile scan attestation, signed by the policy's key", () => {
  const statementWith = (digest: string, predicate: unknown) => ({
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
    subject: [{ name: "x", digest: { sha256: digest.slice("sha256:".length) } }],
    predicate,
  });
  let nested: unknown = {};
  for (let i = 0; i < 200; i++) nested = { scanner: nested };

  it.each([
    ["a scanner.result that is no report", () => ({ scanner: { result: "not a report" } })],
    ["nesting 200 deep", () => nested],
    [
      "100k items",
      () => ({
        scanner: {
          result: {
            SchemaVersion: 2,
            Results: [
              {
                Vulnerabilities: Array.from({ length: 100_000 }, (_, i) => ({
                  VulnerabilityID: `CVE-2024-${i}`,
                })),
              },
            ],
          },
        },
      }),
    ],
    ["20 MiB", () => ({ scanner: { result: null }, padding: "x".repeat(20 * 1024 * 1024) })],
  ])("with %s: never a pass, never a clean bill", async (_what, predicate) => {
    const repo = randomRepo("vuln");
    const image = await pushImage(testbed.open, repo, spec, "1.0");
    await signCosign(testbed.open, repo, image.digest, trusted.privateKey);
    await attachCosignAttestation(
      testbed.open,
      repo,
      image.digest,
      statementWith(image.digest, predicate()),
      trusted.privateKey,
    );
    const report = await check(`${proxy.host}/${repo}:1.0`);
    expect(report.verdict).not.toBe("pass");
    const ids = report.findings.map((f) => f.id);
    expect(ids.includes("vuln.no-data") || ids.includes("check.incomplete")).toBe(true);
    for (const f of report.findings) expect(f.detail).not.toContain("\n");
  });
});

describe("an OpenVEX document attached as a referrer of its own type (oras attach, vexctl attach)", () => {
  const VEX_TYPE = "application/vnd.openvex+json";

  /** A signed scan naming CVE-2024-5535 (critical, fixable), and a VEX document saying it does not apply to `product`. */
  async function withVex(product: (digest: string) => string) {
    const repo = randomRepo("vex");
    const image = await pushImage(testbed.open, repo, spec, "1.0");
    await attachCosignAttestation(
      testbed.open,
      repo,
      image.digest,
      {
        _type: "https://in-toto.io/Statement/v0.1",
        predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
        subject: [{ name: repo, digest: { sha256: image.digest.slice("sha256:".length) } }],
        predicate: cosignVulnPredicate(
          trivyReport([trivyVuln("CVE-2024-5535", "CRITICAL", "3.3.1-r1")], NOW.toISOString()),
          NOW.toISOString(),
        ),
      },
      trusted.privateKey,
    );
    const vex = {
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://example.invalid/vex-1",
      author: "app team",
      timestamp: NOW.toISOString(),
      version: 1,
      statements: [
        {
          vulnerability: { name: "CVE-2024-5535" },
          products: [{ "@id": product(image.digest) }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    };
    const attached = await attachReferrer(testbed.open, repo, image, {
      artifactType: VEX_TYPE,
      layers: [{ mediaType: VEX_TYPE, bytes: Buffer.from(JSON.stringify(vex)) }],
    });
    proxy.requests.length = 0;
    return { repo, image, attached };
  }
  const byDigest = (digest: string) => `pkg:oci/app@${encodeURIComponent(digest)}`;

  it("when unsigned, is read through the fallback tag but applies nothing: the signed scan's vuln.critical stands", async () => {
    const { repo, attached } = await withVex(byDigest);
    const report = await check(`${proxy.host}/${repo}:1.0`);
    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        `GET /v2/${repo}/manifests/${attached.fallbackTag}`,
        `GET /v2/${repo}/manifests/${attached.manifestDigest}`,
      ]),
    );
    expect(report.vulnerabilities?.sources).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: "vex", signedBy: null })]),
    );
    expect(report.vulnerabilities?.items[0]).toMatchObject({ id: "CVE-2024-5535", status: "affected" });
    expect(report.findings.map((f) => f.id)).toContain("vuln.critical");
  });

  it("with trustUnsigned, sets not_affected with its justification, and vuln.critical goes", async () => {
    const { repo } = await withVex(byDigest);
    const report = await check(`${proxy.host}/${repo}:1.0`, true);
    expect(report.vulnerabilities?.items[0]).toMatchObject({
      id: "CVE-2024-5535",
      status: "not_affected",
      vex: "vulnerable_code_not_in_execute_path",
    });
    expect(report.vulnerabilities?.counts.critical).toBe(0);
    expect(report.findings.map((f) => f.id)).not.toContain("vuln.critical");
  });

  it("naming another image's digest, applies to nothing, even with trustUnsigned", async () => {
    const { repo } = await withVex(() => byDigest(`sha256:${"0".repeat(64)}`));
    const report = await check(`${proxy.host}/${repo}:1.0`, true);
    expect(report.vulnerabilities?.items[0]).toMatchObject({ id: "CVE-2024-5535", status: "affected" });
    expect(report.findings.map((f) => f.id)).toContain("vuln.critical");
  });
});
