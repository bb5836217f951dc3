import { describe, expect, it } from "vitest";
import type { FetchedBlob } from "../../src/facts/model.js";
import { DEFAULT_TRUSTED_ROOT } from "../../src/trust/material.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import {
  blobOf,
  cosignSignatureArtifact,
  cosignSignatureLayer,
  type KeyKind,
  MEDIA,
  makeKey,
  sha256,
  signBytes,
  simpleSigningPayload,
  trustFacts,
} from "../support/signing.js";
import { cosignVector, readVectorJson, readVectorText } from "../support/vectors.js";

const NOW = new Date("2026-01-15T00:00:00Z");
const OTHER_DIGEST = `sha256:${"ab".repeat(32)}`;

function material(over: Partial<TrustMaterial> = {}): TrustMaterial {
  return { keys: [], keyless: [], trustedRoot: DEFAULT_TRUSTED_ROOT, ...over };
}

/** The layer with its annotations edited in place by `change`. */
function withAnnotations(
  blob: FetchedBlob,
  change: (annotations: Record<string, string>) => void,
): FetchedBlob {
  const annotations = { ...blob.annotations };
  change(annotations);
  return { ...blob, annotations };
}

/** The layer with its payload text replaced (`from` must occur in it). */
function withPayloadEdit(blob: FetchedBlob, from: string, to: string): FetchedBlob {
  const text = Buffer.from(blob.data, "base64").toString("utf8");
  if (!text.includes(from)) throw new Error(`payload lacks ${from}`);
  return { ...blob, data: Buffer.from(text.replace(from, to)).toString("base64") };
}

describe("classic cosign signatures", () => {
  describe("when the containers/image key-signed vector is checked with cosign.pub", () => {
    const { digest, artifact } = cosignVector("containers-image-cosign/dir-img-cosign-valid");
    const keys = [{ name: "cosign", pem: readVectorText("containers-image-cosign/cosign.pub") }];

    it("is verified, signed by the key's name, for the manifest's digest", () => {
      const report = verifyTrust(trustFacts({ digest, signatures: [artifact] }), material({ keys }), NOW);
      expect(report.signatures).toEqual([
        expect.objectContaining({
          kind: "cosign",
          status: "verified",
          signer: "cosign",
          signedDigest: digest,
        }),
      ]);
    });

    it("verifies when the payload names the platform manifest and the tag resolves to an index", () => {
      const facts = trustFacts({ digest: OTHER_DIGEST, manifestDigest: digest, signatures: [artifact] });
      expect(verifyTrust(facts, material({ keys }), NOW).signatures[0]?.status).toBe("verified");
    });

    it("is untrusted with another key", () => {
      const other = [{ name: "other", pem: readVectorText("containers-image-cosign/cosign2.pub") }];
      const report = verifyTrust(
        trustFacts({ digest, signatures: [artifact] }),
        material({ keys: other }),
        NOW,
      );
      expect(report.signatures[0]?.status).toBe("untrusted");
    });

    it("is invalid when the image is another digest than the payload names", () => {
      const report = verifyTrust(
        trustFacts({ digest: OTHER_DIGEST, signatures: [artifact] }),
        material({ keys }),
        NOW,
      );
      expect(report.signatures[0]).toMatchObject({ status: "invalid", signedDigest: digest });
    });
  });

  describe("when the key signature carries a Rekor bundle", () => {
    const { digest, artifact } = cosignVector("containers-image-cosign/dir-img-cosign-key-rekor-valid");
    const keys = [{ name: "cosign2", pem: readVectorText("containers-image-cosign/cosign2.pub") }];
    const rekorKeys = [{ name: "rekor", pem: readVectorText("containers-image-cosign/rekor.pub") }];
    const facts = trustFacts({ digest, signatures: [artifact] });

    it("verifies the signature and the SET against the shipped root's Rekor key", () => {
      const sig = verifyTrust(facts, material({ keys }), NOW).signatures[0];
      expect(sig).toMatchObject({ status: "verified", signer: "cosign2" });
      expect(sig?.detail).toContain("1 transparency log entry verified");
    });

    it("verifies the SET against rekor.pub given as an extra Rekor key", () => {
      const sig = verifyTrust(facts, material({ keys, rekorKeys, trustedRoot: {} }), NOW).signatures[0];
      expect(sig?.status).toBe("verified");
      expect(sig?.detail).toContain("1 transparency log entry verified");
    });

    it("still verifies by key, noting the log was not checked, when no Rekor key is trusted", () => {
      const sig = verifyTrust(facts, material({ keys, trustedRoot: {} }), NOW).signatures[0];
      expect(sig?.status).toBe("verified");
      expect(sig?.detail).toContain("not checked");
    });

    it("is invalid when the SET was tampered with", () => {
      const blob = withAnnotations(artifact.blobs[0]!, (a) => {
        const b = JSON.parse(a["dev.sigstore.cosign/bundle"]!);
        b.Payload.integratedTime += 1;
        a["dev.sigstore.cosign/bundle"] = JSON.stringify(b);
      });
      const tampered = trustFacts({ digest, signatures: [{ ...artifact, blobs: [blob] }] });
      expect(verifyTrust(tampered, material({ keys }), NOW).signatures[0]?.status).toBe("invalid");
    });

    it("is invalid when the payload was changed (the logged key no longer verifies it)", () => {
      const blob = withPayloadEdit(artifact.blobs[0]!, "key-1", "key-2");
      const tampered = trustFacts({ digest, signatures: [{ ...artifact, blobs: [blob] }] });
      expect(verifyTrust(tampered, material({ keys }), NOW).signatures[0]?.status).toBe("invalid");
    });

    it("is untrusted when another key is trusted (the logged key verifies it)", () => {
      const other = [{ name: "cosign", pem: readVectorText("containers-image-cosign/cosign.pub") }];
      expect(verifyTrust(facts, material({ keys: other }), NOW).signatures[0]?.status).toBe("untrusted");
    });
  });

  describe("when the signature is keyless (Fulcio certificate, chain and Rekor bundle)", () => {
    const { digest, artifact } = cosignVector("containers-image-cosign/dir-img-cosign-fulcio-rekor-valid");
    const facts = trustFacts({ digest, signatures: [artifact] });
    const root = readVectorJson("sigstore-go/trusted-root-public-good.json");
    const issuer = "https://github.com/login/oauth";

    it.each([
      ["an exact identity", { issuer, subject: "mitr@redhat.com" }],
      ["a regex identity", { issuer: "^https://github\\.com/login/.*$", subject: "^mitr@redhat\\.com$" }],
    ])("verifies against the public-good root with %s", (_name, identity) => {
      const sig = verifyTrust(facts, material({ keyless: [identity], trustedRoot: root }), NOW).signatures[0];
      expect(sig).toMatchObject({
        status: "verified",
        signer: `mitr@redhat.com (${issuer})`,
        signedDigest: digest,
      });
    });

    it("verifies against the shipped root too", () => {
      const sig = verifyTrust(facts, material({ keyless: [{ issuer, subject: "mitr@redhat.com" }] }), NOW);
      expect(sig.signatures[0]?.status).toBe("verified");
    });

    it.each([
      ["another subject", { issuer, subject: "someone@example.com" }],
      ["another issuer", { issuer: "https://accounts.google.com", subject: "mitr@redhat.com" }],
      ["a regex that must match the whole subject", { issuer, subject: "^mitr@redhat$" }],
    ])("is untrusted for %s", (_name, identity) => {
      const sig = verifyTrust(facts, material({ keyless: [identity], trustedRoot: root }), NOW).signatures[0];
      expect(sig?.status).toBe("untrusted");
      expect(sig?.detail).toContain("mitr@redhat.com");
    });

    it("is verified by key when the policy pins the certificate's key", () => {
      const pem = artifact.blobs[0]!.annotations["dev.sigstore.cosign/certificate"]!;
      const sig = verifyTrust(facts, material({ keys: [{ name: "pinned", pem }], trustedRoot: {} }), NOW)
        .signatures[0];
      expect(sig).toMatchObject({ status: "verified", signer: "pinned" });
    });

    it("is untrusted when the root does not hold the Fulcio CA", () => {
      const bare = { ...(root as object), certificateAuthorities: [] };
      const sig = verifyTrust(
        facts,
        material({ keyless: [{ issuer, subject: "mitr@redhat.com" }], trustedRoot: bare }),
        NOW,
      );
      expect(sig.signatures[0]?.status).toBe("untrusted");
    });

    it("is invalid when the payload was changed", () => {
      const blob = withPayloadEdit(artifact.blobs[0]!, "fulcio-rekor-1", "fulcio-rekor-2");
      const tampered = trustFacts({ digest, signatures: [{ ...artifact, blobs: [blob] }] });
      const sig = verifyTrust(tampered, material({ keyless: [{ issuer, subject: "mitr@redhat.com" }] }), NOW);
      expect(sig.signatures[0]?.status).toBe("invalid");
    });

    it("is untrusted without its Rekor bundle (no proof of when the certificate was used)", () => {
      const blob = withAnnotations(artifact.blobs[0]!, (a) => {
        delete a["dev.sigstore.cosign/bundle"];
      });
      const bare = trustFacts({ digest, signatures: [{ ...artifact, blobs: [blob] }] });
      const sig = verifyTrust(bare, material({ keyless: [{ issuer, subject: "mitr@redhat.com" }] }), NOW);
      expect(sig.signatures[0]?.status).toBe("untrusted");
    });
  });

  describe.each<KeyKind>(["ecdsa-p256", "ecdsa-p384", "rsa", "ed25519"])(
    "when signed here with %s",
    (kind) => {
      const key = makeKey(kind);
      const digest = sha256(Buffer.from(`image ${kind}`));
      const keys = [{ name: "release", pem: key.publicPem }];
      const check = (layer: FetchedBlob, trusted = keys) =>
        verifyTrust(
          trustFacts({ digest, signatures: [cosignSignatureArtifact(digest, [layer])] }),
          material({ keys: trusted }),
          NOW,
        ).signatures[0];

      it("is verified with the trusted key", () => {
        expect(check(cosignSignatureLayer(key, digest))).toMatchObject({
          status: "verified",
          signer: "release",
        });
      });

      it("is untrusted with another key", () => {
        expect(check(cosignSignatureLayer(makeKey(kind), digest))?.status).toBe("untrusted");
      });

      it("is invalid when the payload names another digest", () => {
        expect(check(cosignSignatureLayer(key, digest, { payloadDigest: OTHER_DIGEST }))?.status).toBe(
          "invalid",
        );
      });

      it("does not verify when the payload was changed after signing", () => {
        // Without a log entry a changed payload cannot be told from another key: never verified.
        expect(check(cosignSignatureLayer(key, digest, { tamper: true }))?.status).toBe("untrusted");
      });
    },
  );

  describe("when the manifest holds several layers", () => {
    it("reports each layer", () => {
      const key = makeKey();
      const digest = sha256(Buffer.from("multi"));
      const art = cosignSignatureArtifact(digest, [
        cosignSignatureLayer(key, digest),
        cosignSignatureLayer(makeKey(), digest),
      ]);
      const report = verifyTrust(
        trustFacts({ digest, signatures: [art] }),
        material({ keys: [{ name: "k", pem: key.publicPem }] }),
        NOW,
      );
      expect(report.signatures.map((s) => s.status)).toEqual(["verified", "untrusted"]);
      expect(report.signatures[1]?.foundVia).toMatch(/layer 2$/);
    });
  });

  describe("when the payload type is not a cosign image signature", () => {
    it("is invalid", () => {
      const key = makeKey();
      const digest = sha256(Buffer.from("typed"));
      const payload = simpleSigningPayload(digest, { type: "atomic container signature" });
      const layer = blobOf(payload, MEDIA.simpleSigning, {
        "dev.cosignproject.cosign/signature": signBytes(key, payload).toString("base64"),
      });
      const report = verifyTrust(
        trustFacts({ digest, signatures: [cosignSignatureArtifact(digest, [layer])] }),
        material({ keys: [{ name: "k", pem: key.publicPem }] }),
        NOW,
      );
      expect(report.signatures[0]?.status).toBe("invalid");
    });
  });
});
