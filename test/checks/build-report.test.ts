import { describe, expect, it } from "vitest";
import { buildReport, respelledReport } from "../../src/checks/build-report.js";
import { findingsForGatherError } from "../../src/checks/index.js";
import { evaluate, policyVersion } from "../../src/policy/evaluate.js";
import { EMPTY_TRUST } from "../../src/trust/types.js";
import {
  CONFIG_DIGEST,
  cleanContext,
  cleanFacts,
  DIGEST,
  MANIFEST_DIGEST,
  NOW,
  reportFor,
} from "../support/facts.js";

const GITHUB = `ghp_${"x1Y2z3".repeat(6)}`;
const AWS = "AKIAIOSFODNN7EXAMPLE";

describe("buildReport", () => {
  it("has the contract's report@1 shape", () => {
    const r = reportFor();
    expect(r).toMatchObject({
      schema: "image-check/report@1",
      reference: `registry.example.com/acme/app:1.4.2@${DIGEST}`,
      image: {
        registry: "registry.example.com",
        repository: "acme/app",
        tag: "1.4.2",
        digest: DIGEST,
        platform: "linux/amd64",
        manifestDigest: MANIFEST_DIGEST,
        configDigest: CONFIG_DIGEST,
        pinned: `registry.example.com/acme/app:1.4.2@${DIGEST}`,
      },
      verdict: "pass",
      checkedAt: "2026-11-30T12:00:00.000Z",
      durationMs: 87,
      decidedBy: [],
      source: { kind: "registry", requests: 5, bytes: 12_345 },
    });
    expect(r.policyVersion).toMatch(/^[0-9a-f]{12}$/);
    expect(r.facts).toMatchObject({ user: "10001:10001", created: expect.any(String) });
    expect(r.facts.history[0]).toEqual({
      created: expect.any(String),
      createdBy: expect.stringContaining("COPY"),
      emptyLayer: false,
    });
    expect(r.facts.signatures).toEqual([
      expect.objectContaining({ kind: "cosign", status: "verified", signer: "release" }),
    ]);
    expect(r.facts.attestations).toEqual([
      expect.objectContaining({ kind: "slsa-provenance", sourceRepository: "https://github.com/acme/app" }),
      expect.objectContaining({ kind: "sbom-spdx", predicateType: "https://spdx.dev/Document" }),
      expect.objectContaining({ kind: "vuln-scan" }),
    ]);
    expect(r.vulnerabilities).toEqual({
      sources: [
        expect.objectContaining({
          kind: "attestation",
          signedBy: "release",
          scanner: "trivy 0.50.1",
          predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
        }),
      ],
      counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 },
      items: [],
    });
    expect(r.run?.dockerRun).toContain(`registry.example.com/acme/app:1.4.2@${DIGEST}`);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  describe("when the reference names a tag and a digest", () => {
    const NEW = `sha256:${"b".repeat(64)}`;

    it("says what the tag resolves to now, next to the pinned digest", () => {
      const facts = cleanFacts();
      facts.registryInfo = { tagDigest: NEW };
      expect(reportFor(facts).image).toMatchObject({ digest: DIGEST, tagDigest: NEW });
    });

    it("leaves tagDigest out when the tag could not be looked up", () => {
      expect(reportFor(cleanFacts()).image.tagDigest).toBeUndefined();
    });
  });

  describe("when the reference names a tag only", () => {
    it("leaves tagDigest out: digest is what the tag resolves to", () => {
      const facts = cleanFacts();
      const { digest: _pinned, ...ref } = facts.reference;
      facts.reference = { ...ref, original: "registry.example.com/acme/app:1.4.2" };
      facts.registryInfo = { tagDigest: `sha256:${"c".repeat(64)}` };
      const r = reportFor(facts);
      expect(r.image.digest).toBe(DIGEST);
      expect(r.image.tagDigest).toBeUndefined();
    });
  });

  it("never carries a secret in full, anywhere", () => {
    const facts = cleanFacts();
    facts.config.env.push(`GITHUB_TOKEN=${GITHUB}`, "DB_PASSWORD=hunter2hunter2");
    facts.config.labels["deploy.aws-key"] = AWS;
    facts.config.cmd = ["serve", "--db-password", "Tr0ub4dor3xyz"];
    facts.config.healthcheck = { test: ["CMD-SHELL", "curl -u admin:S3cretPass3 http://localhost/health"] };
    facts.history.push(
      { createdBy: `RUN |1 NPM_TOKEN=${GITHUB} /bin/sh -c npm ci # buildkit`, emptyLayer: false },
      { createdBy: "/bin/sh -c mysql -uroot -pS3cretPass4 -e 'select 1'", emptyLayer: false },
    );
    facts.incomplete = [
      {
        part: "referrers",
        code: "NETWORK",
        message: "GET https://bot:Pa55word99@registry.example.com/v2/ failed",
      },
    ];
    const text = JSON.stringify(reportFor(facts));
    for (const secret of [
      GITHUB,
      "hunter2hunter2",
      AWS,
      "Tr0ub4dor3xyz",
      "S3cretPass3",
      "S3cretPass4",
      "Pa55word99",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("ghp_…Y2z3 (40 chars)");
    expect(text).toContain("AKIA…MPLE (20 chars)");
  });

  it("reports a failed gather as a check that cannot pass", () => {
    const ref = cleanFacts().reference;
    const ctx = cleanContext();
    const r = buildReport({
      reference: ref.original,
      ref,
      facts: null,
      evaluation: evaluate(
        findingsForGatherError({ code: "MANIFEST_UNKNOWN", message: "no such tag" }),
        ctx.policy,
        ref,
        NOW,
      ),
      trust: EMPTY_TRUST,
      checkedAt: NOW,
      durationMs: 12,
      policyVersion: policyVersion(ctx.policy),
      platform: "linux/amd64",
    });
    expect(r.verdict).toBe("review");
    expect(r.findings.map((f) => f.id)).toEqual(["check.incomplete"]);
    expect(r.image.pinned).toBe(`registry.example.com/acme/app:1.4.2@${DIGEST}`);
    expect(r.facts).toEqual({ user: "", labels: {}, history: [], signatures: [], attestations: [] });
    expect(r.run).toBeUndefined();
  });
});

describe("respelledReport", () => {
  /** The real report of a tag reference (so tag.not-pinned quotes it and the run advice pins it). */
  const tagReport = () => {
    const facts = cleanFacts();
    const { digest: _pinned, ...ref } = facts.reference;
    facts.reference = { ...ref, original: "registry.example.com/acme/app:1.4.2" };
    return reportFor(facts);
  };

  it("shows the other spelling's reference and pinned reference wherever the report names them", () => {
    const original = tagReport();
    const asked = "REGISTRY.example.com:443/acme/app:1.4.2";
    const pinned = `registry.example.com:443/acme/app:1.4.2@${DIGEST}`;
    const r = respelledReport(original, asked);
    expect(r.reference).toBe(asked);
    expect(r.image).toMatchObject({ registry: "registry.example.com:443", repository: "acme/app", pinned });
    const notPinned = r.findings.find((f) => f.id === "tag.not-pinned")!;
    expect(notPinned.evidence).toMatchObject({ reference: asked, pinned });
    expect(notPinned.detail).toContain(asked);
    expect(notPinned.detail).toContain(pinned);
    expect(r.run?.dockerRun).toContain(pinned);
    expect(r.run?.compose).toContain(pinned);
    const text = JSON.stringify(r);
    expect(text).not.toContain(original.reference);
    expect(text).not.toContain(original.image.pinned);
    // Everything else is the same report.
    expect({ ...r, reference: 0, image: 0, findings: 0, run: 0 }).toEqual({
      ...original,
      reference: 0,
      image: 0,
      findings: 0,
      run: 0,
    });
  });

  it("replaces a short spelling once, not again inside the pinned reference that contains it", () => {
    const facts = cleanFacts();
    facts.reference = {
      registry: "docker.io",
      repository: "acme/app",
      tag: "1.4.2",
      original: "acme/app:1.4.2",
    };
    const original = reportFor(facts);
    const r = respelledReport(original, "docker.io/acme/app:1.4.2");
    const pinned = `docker.io/acme/app:1.4.2@${DIGEST}`;
    expect(r.image.pinned).toBe(pinned);
    const detail = r.findings.find((f) => f.id === "tag.not-pinned")!.detail;
    expect(detail).toContain(`got docker.io/acme/app:1.4.2,`);
    expect(detail).toContain(pinned);
    expect(JSON.stringify(r)).not.toContain("docker.io/docker.io");
  });

  it("changes nothing for a reference that does not parse", () => {
    const original = tagReport();
    expect(respelledReport(original, "Not A Reference")).toBe(original);
  });
});
