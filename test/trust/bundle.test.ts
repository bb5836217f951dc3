import { describe, expect, it } from "vitest";
import { DEFAULT_TRUSTED_ROOT } from "../../src/trust/material.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import {
  attestationArtifact,
  blobOf,
  bundleArtifact,
  cosign3SignatureBundle,
  inTotoStatement,
  type KeyKind,
  keyBundle,
  MEDIA,
  makeKey,
  PREDICATE,
  sha256,
  trustFacts,
} from "../support/signing.js";
import { readVectorJson, readVectorText } from "../support/vectors.js";

const NOW = new Date("2026-01-15T00:00:00Z");
const OTHER_DIGEST = `sha256:${"cd".repeat(32)}`;

function material(over: Partial<TrustMaterial> = {}): TrustMaterial {
  return { keys: [], keyless: [], trustedRoot: DEFAULT_TRUSTED_ROOT, ...over };
}

/** A copy of `bundle` with its DSSE payload (the statement) edited by `edit`. */
function editStatement(bundle: unknown, edit: (statement: Record<string, unknown>) => void): unknown {
  const copy = structuredClone(bundle) as { dsseEnvelope: { payload: string } };
  const statement = JSON.parse(Buffer.from(copy.dsseEnvelope.payload, "base64").toString("utf8"));
  edit(statement);
  copy.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
  return copy;
}

describe("Sigstore bundles", () => {
  describe("when cosign's keyless DSSE bundle (v0.3) is checked against its trusted root", () => {
    const bundle = readVectorJson("cosign/oci-attestation.sigstore.json");
    const root = readVectorJson("cosign/trusted_root_pgi.json");
    const digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    const identity = { issuer: "https://github.com/login/oauth", subject: "cody@soyland.com" };
    const facts = trustFacts({ digest, signatures: [bundleArtifact(digest, bundle)] });

    it("is verified for the identity the policy trusts", () => {
      const report = verifyTrust(facts, material({ keyless: [identity], trustedRoot: root }), NOW);
      expect(report.signatures).toEqual([
        expect.objectContaining({
          kind: "sigstore-bundle",
          status: "verified",
          signer: "cody@soyland.com (https://github.com/login/oauth)",
          signedDigest: digest,
        }),
      ]);
    });

    it("is verified against the shipped root as well", () => {
      expect(verifyTrust(facts, material({ keyless: [identity] }), NOW).signatures[0]?.status).toBe(
        "verified",
      );
    });

    it("is untrusted for an identity the policy does not name", () => {
      const other = { issuer: identity.issuer, subject: "^.*@example\\.com$" };
      const sig = verifyTrust(facts, material({ keyless: [other], trustedRoot: root }), NOW).signatures[0];
      expect(sig?.status).toBe("untrusted");
    });

    it("is invalid when its in-toto subject names another digest", () => {
      const elsewhere = trustFacts({
        digest: OTHER_DIGEST,
        signatures: [bundleArtifact(OTHER_DIGEST, bundle)],
      });
      const sig = verifyTrust(elsewhere, material({ keyless: [identity], trustedRoot: root }), NOW)
        .signatures[0];
      expect(sig).toMatchObject({ status: "invalid", signedDigest: digest });
    });

    it("is invalid when the statement was changed after signing", () => {
      const changed = editStatement(bundle, (s) => {
        s.predicate = { Data: "{}" };
      });
      const tampered = trustFacts({ digest, signatures: [bundleArtifact(digest, changed)] });
      const sig = verifyTrust(tampered, material({ keyless: [identity], trustedRoot: root }), NOW)
        .signatures[0];
      expect(sig?.status).toBe("invalid");
    });

    it("is summarized as a verified attestation when found among attestations", () => {
      const blob = blobOf(Buffer.from(JSON.stringify(bundle)), MEDIA.bundleV03);
      const atts = trustFacts({ digest, attestations: [attestationArtifact("referrer", digest, [blob])] });
      const report = verifyTrust(atts, material({ keyless: [identity], trustedRoot: root }), NOW);
      expect(report.attestations).toEqual([
        {
          foundVia: "referrers",
          predicateType: "https://cosign.sigstore.dev/attestation/v1",
          kind: "other",
          signatureVerified: true,
          subjectMatches: true,
        },
      ]);
    });
  });

  describe("when sigstore-go's key-based bundle (v0.1, DSSE, Rekor entry) is checked with publish_key.pub", () => {
    const bundle = readVectorJson("sigstore-go/bundle-publish.json");
    // The statement's subject is an npm tarball named by sha512; an image may be named so too.
    const digest =
      "sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751";
    const keys = [{ name: "publish", pem: readVectorText("sigstore-go/publish_key.pub") }];
    const root = readVectorJson("sigstore-go/trusted-root-public-good.json");
    const facts = trustFacts({ digest, signatures: [bundleArtifact(digest, bundle)] });

    it("is verified with the key, its log entry checked against the root", () => {
      const sig = verifyTrust(facts, material({ keys, trustedRoot: root }), NOW).signatures[0];
      expect(sig).toMatchObject({ status: "verified", signer: "publish", signedDigest: digest });
      expect(sig?.detail).toContain("1 transparency log entry verified");
    });

    it("is untrusted with another key (the logged key verifies it)", () => {
      const other = [{ name: "other", pem: makeKey().publicPem }];
      expect(
        verifyTrust(facts, material({ keys: other, trustedRoot: root }), NOW).signatures[0]?.status,
      ).toBe("untrusted");
    });

    it("is invalid when the statement was changed (the logged key no longer verifies it)", () => {
      const changed = editStatement(bundle, (s) => {
        (s.predicate as Record<string, unknown>).version = "1.3.1";
      });
      const tampered = trustFacts({ digest, signatures: [bundleArtifact(digest, changed)] });
      expect(verifyTrust(tampered, material({ keys, trustedRoot: root }), NOW).signatures[0]?.status).toBe(
        "invalid",
      );
    });

    it("is invalid for an image with another digest", () => {
      const elsewhere = trustFacts({
        digest: OTHER_DIGEST,
        signatures: [bundleArtifact(OTHER_DIGEST, bundle)],
      });
      expect(verifyTrust(elsewhere, material({ keys, trustedRoot: root }), NOW).signatures[0]?.status).toBe(
        "invalid",
      );
    });
  });

  describe.each<KeyKind>(["ecdsa-p256", "ecdsa-p384", "rsa", "ed25519"])(
    "when a key-based cosign 3 bundle without log entries is signed here with %s",
    (kind) => {
      const key = makeKey(kind);
      const digest = sha256(Buffer.from(`bundle ${kind}`));
      const keys = [{ name: "release", pem: key.publicPem }];
      const check = (bundle: unknown, trusted = keys, d = digest) =>
        verifyTrust(
          trustFacts({ digest: d, signatures: [bundleArtifact(d, bundle)] }),
          material({ keys: trusted }),
          NOW,
        ).signatures[0];

      it("is verified with the trusted key", () => {
        expect(check(cosign3SignatureBundle(key, digest))).toMatchObject({
          status: "verified",
          signer: "release",
        });
      });

      it("is untrusted when signed by another key", () => {
        expect(check(cosign3SignatureBundle(makeKey(kind), digest))?.status).toBe("untrusted");
      });

      it("is invalid when the statement names another digest", () => {
        expect(check(cosign3SignatureBundle(key, OTHER_DIGEST))?.status).toBe("invalid");
      });

      it("is invalid when the statement was changed after signing by the key it names", () => {
        const changed = editStatement(cosign3SignatureBundle(key, digest), (s) => {
          s.predicate = { changed: true };
        });
        expect(check(changed)?.status).toBe("invalid");
      });
    },
  );

  describe("when a key-based message-signature bundle signs the manifest bytes", () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [] }));
    const digest = sha256(manifest);

    it.each<KeyKind>(["ecdsa-p256", "ecdsa-p384", "rsa"])(
      "is verified over the image digest with %s",
      (kind) => {
        const key = makeKey(kind);
        const facts = trustFacts({
          digest,
          signatures: [bundleArtifact(digest, keyBundle(key, { artifact: manifest }))],
        });
        const sig = verifyTrust(facts, material({ keys: [{ name: "k", pem: key.publicPem }] }), NOW)
          .signatures[0];
        expect(sig).toMatchObject({ status: "verified", signedDigest: digest });
      },
    );

    it("is invalid when it signs another manifest", () => {
      const key = makeKey();
      const other = keyBundle(key, { artifact: Buffer.from("{}") });
      const facts = trustFacts({ digest, signatures: [bundleArtifact(digest, other)] });
      expect(
        verifyTrust(facts, material({ keys: [{ name: "k", pem: key.publicPem }] }), NOW).signatures[0]
          ?.status,
      ).toBe("invalid");
    });

    it("is unverified, never verified, with an Ed25519 key (it signs bytes the facts do not hold)", () => {
      const key = makeKey("ed25519");
      const facts = trustFacts({
        digest,
        signatures: [bundleArtifact(digest, keyBundle(key, { artifact: manifest }))],
      });
      const sig = verifyTrust(facts, material({ keys: [{ name: "k", pem: key.publicPem }] }), NOW)
        .signatures[0];
      expect(sig?.status).toBe("unverified");
    });
  });

  describe("when the bundle blob is not a bundle", () => {
    it.each([
      ["not JSON", Buffer.from("{nope")],
      ["JSON but no bundle", Buffer.from(JSON.stringify({ mediaType: MEDIA.bundleV03 }))],
      ["a DSSE statement of another payload type", Buffer.from(JSON.stringify({ hello: 1 }))],
    ])("is invalid for %s", (_name, bytes) => {
      const digest = sha256(Buffer.from("x"));
      const art = { ...bundleArtifact(digest, {}), blobs: [blobOf(bytes, MEDIA.bundleV03)] };
      const sig = verifyTrust(trustFacts({ digest, signatures: [art] }), material(), NOW).signatures[0];
      expect(sig?.status).toBe("invalid");
    });

    it("is invalid when the referrer holds no layer", () => {
      const digest = sha256(Buffer.from("y"));
      const art = { ...bundleArtifact(digest, {}), blobs: [] };
      expect(verifyTrust(trustFacts({ digest, signatures: [art] }), material(), NOW).signatures).toEqual([
        expect.objectContaining({ status: "invalid" }),
      ]);
    });
  });

  it("treats a DSSE statement whose predicate is not the sign predicate as a signature of the image too", () => {
    const key = makeKey();
    const digest = sha256(Buffer.from("z"));
    const bundle = keyBundle(key, { statement: inTotoStatement(digest, PREDICATE.slsaV1, {}) });
    const facts = trustFacts({ digest, signatures: [bundleArtifact(digest, bundle)] });
    expect(
      verifyTrust(facts, material({ keys: [{ name: "k", pem: key.publicPem }] }), NOW).signatures[0]?.status,
    ).toBe("verified");
  });
});
