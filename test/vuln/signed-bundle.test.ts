/**
 * A vulnerability attestation carried in a Sigstore bundle (cosign 3's referrer form) counts as
 * signed through the trust layer's own verification, as any attestation does. Covered here: a
 * key-based bundle v0.3 (DSSE over the in-toto statement, no transparency log entry, as cosign 3
 * writes with `--key --tlog-upload=false`), verified by @sigstore/verify against a policy key.
 * Keyless bundles (Fulcio certificate + Rekor), made offline from a self-made Sigstore, are
 * covered end to end in keyless.int.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parsePolicy } from "../../src/policy/yaml.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { assessVulnerabilities } from "../../src/vuln/assess.js";
import { cosignVulnPredicate, NOW, trivyReport, trivyVuln } from "../support/facts.js";
import {
  attestationArtifact,
  blobOf,
  inTotoStatement,
  keyBundle,
  MEDIA,
  makeKey,
  trustFacts,
} from "../support/signing.js";

const DIGEST = `sha256:${"d4".repeat(32)}`;
const CONFIG = `sha256:${"c3".repeat(32)}`;
const release = makeKey("ecdsa-p256");
const stranger = makeKey("ecdsa-p256");
const IMAGE = { registry: "registry.test", repository: "app", tag: "v1" };

function scanStatement(digest = DIGEST): object {
  const report = trivyReport([trivyVuln("CVE-2024-5535", "CRITICAL", "3.3.1-r1")], NOW.toISOString());
  return inTotoStatement(
    digest,
    "https://cosign.sigstore.dev/attestation/vuln/v1",
    cosignVulnPredicate(report, NOW.toISOString()),
  );
}

function assess(bundle: object, trustedKey = release) {
  const policy = parsePolicy("vulnerabilities: { scanner: { kind: none } }", "p.yaml");
  const facts = trustFacts({
    digest: DIGEST,
    attestations: [
      attestationArtifact("referrer", DIGEST, [blobOf(Buffer.from(JSON.stringify(bundle)), MEDIA.bundleV03)]),
    ],
  });
  const trust = verifyTrust(
    facts,
    { keys: [{ name: "release", pem: trustedKey.publicPem }], keyless: [], trustedRoot: {} },
    NOW,
  );
  const result = assessVulnerabilities(
    { digest: DIGEST, manifestDigest: DIGEST, configDigest: CONFIG },
    IMAGE,
    trust,
    policy,
    NOW,
  );
  return { trust, result };
}

describe("a vulnerability attestation in a key-based Sigstore bundle", () => {
  it("when the policy's key signed it, counts as signed data: its signer is named and it is trusted", () => {
    const { trust, result } = assess(keyBundle(release, { statement: scanStatement() }));
    expect(trust.statements).toEqual([expect.objectContaining({ signer: "release", subjectMatches: true })]);
    expect(result?.trusted).toBe(true);
    expect(result?.report.sources).toEqual([
      expect.objectContaining({ kind: "attestation", signedBy: "release", scanner: "trivy 0.50.1" }),
    ]);
    expect(result?.report.counts.critical).toBe(1);
  });

  it("when another key signed it, adds its items but is not trusted", () => {
    const { result } = assess(keyBundle(stranger, { statement: scanStatement() }));
    expect(result?.trusted).toBe(false);
    expect(result?.report.sources).toEqual([expect.objectContaining({ signedBy: null })]);
    expect(result?.report.counts.critical).toBe(1);
  });

  it("when its payload was changed after signing, is not trusted", () => {
    const bundle = keyBundle(release, { statement: scanStatement() }) as {
      dsseEnvelope: { payload: string };
    };
    const changed = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    changed.predicate.scanner.result.Results[0].Vulnerabilities = [];
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(changed)).toString("base64");
    const { result } = assess(bundle);
    expect(result?.trusted).toBe(false);
    expect(result?.report.sources.every((s) => s.signedBy === null)).toBe(true);
  });
});
