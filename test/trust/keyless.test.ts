/**
 * Keyless Sigstore signatures against a trusted root the policy names, made offline: the CA,
 * CT log and Rekor log are fresh keys (test/support/keyless.ts), so every part @sigstore/verify
 * checks (chain to the root's CA, embedded SCT, Rekor SET and inclusion proof, the certificate's
 * validity at the logged time, SAN and OIDC issuer) is exercised, and each part can be broken.
 */
import { describe, expect, it } from "vitest";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { fakeSigstore, type KeylessIdentity, keylessAttLayer, keylessBundle } from "../support/keyless.js";
import {
  attestationArtifact,
  blobOf,
  bundleArtifact,
  inTotoStatement,
  MEDIA,
  PREDICATE,
  trustFacts,
} from "../support/signing.js";

const NOW = new Date();
const DIGEST = `sha256:${"d4".repeat(32)}`;
const RELEASE: KeylessIdentity = { subject: "release@acme.test", issuer: "https://oidc.acme.test" };
const sigstore = fakeSigstore(NOW);

function material(over: Partial<TrustMaterial> = {}): TrustMaterial {
  return { keys: [], keyless: [RELEASE], trustedRoot: sigstore.trustedRoot(), ...over };
}

type Bundle = {
  verificationMaterial: {
    certificate: { rawBytes: string };
    tlogEntries: { inclusionPromise: { signedEntryTimestamp: string } }[];
  };
};

function signature(bundle: object, over: Partial<TrustMaterial> = {}) {
  const facts = trustFacts({ digest: DIGEST, signatures: [bundleArtifact(DIGEST, bundle)] });
  return verifyTrust(facts, material(over), NOW).signatures[0];
}

function signed(identity = RELEASE, opts: { loggedAt?: Date } = {}): Bundle {
  return keylessBundle(
    sigstore,
    identity,
    inTotoStatement(DIGEST, PREDICATE.cosignSign),
    NOW,
    opts,
  ) as Bundle;
}

/** Flips the last byte of a base64 value. */
function flipped(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
  return bytes.toString("base64");
}

describe("a keyless Sigstore bundle (v0.3) from a self-made Fulcio, CT log and Rekor", () => {
  it("when the policy trusts its identity and root, is verified and names its SAN and issuer", () => {
    expect(signature(signed())).toMatchObject({
      status: "verified",
      signer: "release@acme.test (https://oidc.acme.test)",
    });
  });

  it("when the SAN is a workflow URI, matches a policy subject given as a regular expression", () => {
    const workflow = {
      subject: "https://github.test/acme/app/.github/workflows/release.yml@refs/tags/v1",
      issuer: "https://token.actions.github.test",
    };
    const sig = signature(signed(workflow), {
      keyless: [{ issuer: workflow.issuer, subject: "^https://github\\.test/acme/.*$" }],
    });
    expect(sig).toMatchObject({ status: "verified", signer: `${workflow.subject} (${workflow.issuer})` });
  });

  it.each([
    ["another subject", { ...RELEASE, subject: "someone@acme.test" }],
    ["another issuer", { ...RELEASE, issuer: "https://accounts.other.test" }],
  ])("when the policy names %s, is untrusted", (_what, identity) => {
    const sig = signature(signed(), { keyless: [identity] });
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("not a trusted identity");
  });

  it("when the trusted root does not hold its CA, is untrusted: the chain leads nowhere", () => {
    const sig = signature(signed(), { trustedRoot: sigstore.trustedRoot({ withoutCa: true }) });
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("CERTIFICATE_ERROR");
  });

  it("when the trusted root does not hold the CT log that issued its SCT, is untrusted: an SCT is required", () => {
    const sig = signature(signed(), { trustedRoot: sigstore.trustedRoot({ withoutCtlog: true }) });
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("SCT");
  });

  it("when another Sigstore made the same identity's certificate, is untrusted", () => {
    const elsewhere = fakeSigstore(NOW);
    const bundle = keylessBundle(elsewhere, RELEASE, inTotoStatement(DIGEST, PREDICATE.cosignSign), NOW);
    const sig = signature(bundle);
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("CERTIFICATE_ERROR");
  });

  it("when its certificate was changed (the SAN rewritten), is untrusted: the CA's signature no longer holds", () => {
    const bundle = signed();
    const der = Buffer.from(bundle.verificationMaterial.certificate.rawBytes, "base64");
    const at = der.indexOf("release@acme.test");
    expect(at).toBeGreaterThan(0);
    der.write("x", at);
    bundle.verificationMaterial.certificate.rawBytes = der.toString("base64");
    const sig = signature(bundle);
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("CERTIFICATE_ERROR");
  });

  it("when its SET was changed, is untrusted: the log never promised it", () => {
    const bundle = signed();
    const promise = bundle.verificationMaterial.tlogEntries[0]?.inclusionPromise;
    if (!promise) throw new Error("no inclusion promise");
    promise.signedEntryTimestamp = flipped(promise.signedEntryTimestamp);
    const sig = signature(bundle);
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("TLOG_INCLUSION_PROMISE_ERROR");
  });

  it("when it was logged after its 10-minute certificate expired, is untrusted", () => {
    const sig = signature(signed(RELEASE, { loggedAt: new Date(NOW.getTime() + 11 * 60_000) }));
    expect(sig?.status).toBe("untrusted");
    expect(sig?.detail).toContain("CERTIFICATE_ERROR");
  });
});

describe("a keyless cosign `.att` layer (certificate, chain and Rekor bundle annotations)", () => {
  const statement = inTotoStatement(DIGEST, "https://cosign.sigstore.dev/attestation/vuln/v1", {});

  function attestation(annotations?: (a: Record<string, string>) => Record<string, string>) {
    const layer = keylessAttLayer(sigstore, RELEASE, statement, NOW);
    const blob = blobOf(
      layer.envelope,
      MEDIA.dsse,
      annotations ? annotations(layer.annotations) : layer.annotations,
    );
    const facts = trustFacts({
      digest: DIGEST,
      attestations: [attestationArtifact("cosign-att", DIGEST, [blob])],
    });
    return verifyTrust(facts, material(), NOW);
  }

  it("when the policy trusts its identity and root, its statement is signed by that identity", () => {
    const report = attestation();
    expect(report.attestations[0]?.signatureVerified).toBe(true);
    expect(report.statements?.[0]?.signer).toBe("release@acme.test (https://oidc.acme.test)");
  });

  it("when the Rekor bundle's SET was changed, its statement is unsigned", () => {
    const report = attestation((a) => {
      const rekor = JSON.parse(a["dev.sigstore.cosign/bundle"] ?? "{}");
      rekor.SignedEntryTimestamp = flipped(rekor.SignedEntryTimestamp);
      return { ...a, "dev.sigstore.cosign/bundle": JSON.stringify(rekor) };
    });
    expect(report.attestations[0]?.signatureVerified).toBe(false);
    expect(report.statements?.[0]?.signer).toBeNull();
  });
});
