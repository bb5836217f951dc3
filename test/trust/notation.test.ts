import { describe, expect, it } from "vitest";
import type { SignatureArtifact } from "../../src/facts/model.js";
import { DEFAULT_TRUSTED_ROOT } from "../../src/trust/material.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { blobOf, MEDIA, makeKey, trustFacts } from "../support/signing.js";
import { readVector } from "../support/vectors.js";

const NOW = new Date("2026-01-15T00:00:00Z");
const envelope = readVector("notation/jws_signature.sig");
const jws = JSON.parse(envelope.toString("utf8")) as {
  payload: string;
  protected: string;
  header: { x5c: string[] };
  signature: string;
};
const DIGEST = "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";
const CERT_PEM = `-----BEGIN CERTIFICATE-----\n${jws.header.x5c[0]!.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;

function notationArtifact(bytes: Buffer, mediaType: string = MEDIA.jws): SignatureArtifact {
  return {
    kind: "notation",
    foundVia: "referrers",
    manifestDigest: `sha256:${"0".repeat(64)}`,
    subjectDigest: DIGEST,
    artifactType: MEDIA.notation,
    manifestAnnotations: {},
    blobs: [blobOf(bytes, mediaType)],
  };
}

function check(bytes: Buffer, over: Partial<TrustMaterial> = {}, digest = DIGEST, now = NOW) {
  const material: TrustMaterial = { keys: [], keyless: [], trustedRoot: DEFAULT_TRUSTED_ROOT, ...over };
  return verifyTrust(trustFacts({ digest, signatures: [notationArtifact(bytes)] }), material, now)
    .signatures[0];
}

/** The envelope with a protected-header or payload field replaced (the signature then no longer matches). */
function edited(part: "protected" | "payload", edit: (v: Record<string, unknown>) => void): Buffer {
  const value = JSON.parse(Buffer.from(jws[part], "base64url").toString("utf8"));
  edit(value);
  return Buffer.from(
    JSON.stringify({ ...jws, [part]: Buffer.from(JSON.stringify(value)).toString("base64url") }),
  );
}

describe("Notation signatures", () => {
  describe("when notation-go's JWS envelope is found for its target digest", () => {
    it("is reported unverified when its certificate is not in the trust store", () => {
      const sig = check(envelope);
      expect(sig).toMatchObject({ kind: "notation", status: "unverified", signedDigest: DIGEST });
      expect(sig?.detail).toContain("alpine");
    });

    it("is verified when its certificate is in the Notation trust store", () => {
      expect(check(envelope, { notationCerts: [CERT_PEM] })).toMatchObject({
        status: "verified",
        signer: "alpine",
      });
    });

    it("is verified when the certificate is listed among the policy keys", () => {
      expect(check(envelope, { keys: [{ name: "notation", pem: CERT_PEM }] })?.status).toBe("verified");
    });

    it("stays unverified when only an unrelated key is trusted", () => {
      expect(check(envelope, { keys: [{ name: "other", pem: makeKey("rsa").publicPem }] })?.status).toBe(
        "unverified",
      );
    });
  });

  describe("when the envelope is broken", () => {
    it("is invalid when the image is another digest", () => {
      expect(check(envelope, { notationCerts: [CERT_PEM] }, `sha256:${"1".repeat(64)}`)?.status).toBe(
        "invalid",
      );
    });

    it("is invalid when the payload was changed", () => {
      const bytes = edited("payload", (p) => {
        (p.targetArtifact as Record<string, unknown>).size = 482;
      });
      expect(check(bytes, { notationCerts: [CERT_PEM] })?.status).toBe("invalid");
    });

    it("is invalid when the protected header was changed", () => {
      const bytes = edited("protected", (h) => {
        h["io.cncf.notary.signingTime"] = "2024-01-01T00:00:00Z";
      });
      expect(check(bytes, { notationCerts: [CERT_PEM] })?.status).toBe("invalid");
    });

    it("is invalid when the signature bytes were changed", () => {
      const sig = Buffer.from(jws.signature, "base64url");
      sig[10] = (sig[10] ?? 0) ^ 1;
      const bytes = Buffer.from(JSON.stringify({ ...jws, signature: sig.toString("base64url") }));
      expect(check(bytes, { notationCerts: [CERT_PEM] })?.status).toBe("invalid");
    });

    it.each([
      ["not JSON", Buffer.from("not json")],
      ["no x5c", Buffer.from(JSON.stringify({ ...jws, header: {} }))],
      ["a bad base64url signature", Buffer.from(JSON.stringify({ ...jws, signature: "***" }))],
    ])("is invalid for %s", (_name, bytes) => {
      expect(check(bytes, { notationCerts: [CERT_PEM] })?.status).toBe("invalid");
    });
  });

  describe("when the envelope cannot be verified here", () => {
    it("is unverified for a COSE envelope", () => {
      const material: TrustMaterial = { keys: [], keyless: [], trustedRoot: {}, notationCerts: [CERT_PEM] };
      const art = notationArtifact(Buffer.from([0xd2, 0x84]), "application/cose");
      expect(
        verifyTrust(trustFacts({ digest: DIGEST, signatures: [art] }), material, NOW).signatures[0]?.status,
      ).toBe("unverified");
    });

    it("is unverified when its certificate has expired at the given time", () => {
      expect(
        check(envelope, { notationCerts: [CERT_PEM] }, DIGEST, new Date("2124-01-01T00:00:00Z"))?.status,
      ).toBe("unverified");
    });
  });
});
