import { describe, expect, it } from "vitest";
import type { AttestationArtifact, FetchedBlob, SignatureArtifact } from "../../src/facts/model.js";
import { DEFAULT_TRUSTED_ROOT } from "../../src/trust/material.js";
import { parseJson } from "../../src/trust/parse.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import {
  attestationArtifact,
  blobOf,
  bundleArtifact,
  cosignSignatureArtifact,
  MEDIA,
  makeKey,
  sha256,
  simpleSigningPayload,
  trustFacts,
} from "../support/signing.js";
import { cosignVector, readVector, readVectorJson, readVectorText } from "../support/vectors.js";

const NOW = new Date("2026-01-15T00:00:00Z");
const DIGEST = sha256(Buffer.from("robust"));
const MATERIAL: TrustMaterial = {
  keys: [{ name: "cosign", pem: readVectorText("containers-image-cosign/cosign.pub") }],
  keyless: [{ issuer: "https://github.com/login/oauth", subject: "mitr@redhat.com" }],
  trustedRoot: DEFAULT_TRUSTED_ROOT,
};
const DEEP = "[".repeat(100_000) + "]".repeat(100_000);

function rawBlob(data: string, mediaType: string, annotations: Record<string, string> = {}): FetchedBlob {
  return { mediaType, digest: DIGEST, size: data.length, annotations, data };
}

function artifact(kind: SignatureArtifact["kind"], blobs: FetchedBlob[]): SignatureArtifact {
  return {
    kind,
    foundVia: "test",
    manifestDigest: DIGEST,
    subjectDigest: DIGEST,
    manifestAnnotations: {},
    blobs,
  };
}

/** Deterministic byte mutations (xorshift), so a failure can be replayed. */
function* mutations(bytes: Buffer, count: number, seed: number): Generator<Buffer> {
  let s = seed;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (let i = 0; i < count; i++) {
    const copy = Buffer.from(bytes);
    const edits = 1 + (next() % 4);
    for (let e = 0; e < edits; e++) copy[next() % copy.length] = next() % 256;
    yield copy;
  }
}

describe("verifyTrust on hostile input", () => {
  it.each<[string, SignatureArtifact]>([
    [
      "cosign layer that is not base64",
      artifact("cosign", [
        rawBlob("%%%", MEDIA.simpleSigning, { "dev.cosignproject.cosign/signature": "x" }),
      ]),
    ],
    [
      "cosign payload nested 100000 deep",
      artifact("cosign", [
        rawBlob(Buffer.from(DEEP).toString("base64"), MEDIA.simpleSigning, {
          "dev.cosignproject.cosign/signature": "AA==",
        }),
      ]),
    ],
    [
      "cosign layer with garbage certificate and bundle annotations",
      cosignSignatureArtifact(DIGEST, [
        blobOf(simpleSigningPayload(DIGEST), MEDIA.simpleSigning, {
          "dev.cosignproject.cosign/signature": "MEUCIQ==",
          "dev.sigstore.cosign/certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
          "dev.sigstore.cosign/bundle": DEEP,
        }),
      ]),
    ],
    [
      "cosign layer with a Rekor bundle of the wrong shape",
      cosignSignatureArtifact(DIGEST, [
        blobOf(simpleSigningPayload(DIGEST), MEDIA.simpleSigning, {
          "dev.cosignproject.cosign/signature": "MEUCIQ==",
          "dev.sigstore.cosign/bundle": JSON.stringify({
            SignedEntryTimestamp: 5,
            Payload: { body: ["x"], integratedTime: "now", logID: "zz" },
          }),
        }),
      ]),
    ],
    [
      "bundle nested 100000 deep",
      artifact("sigstore-bundle", [rawBlob(Buffer.from(DEEP).toString("base64"), MEDIA.bundleV03)]),
    ],
    [
      "bundle JSON of the wrong types",
      bundleArtifact(DIGEST, { mediaType: 7, verificationMaterial: "x", dsseEnvelope: [1] }),
    ],
    [
      "Notation envelope of the wrong types",
      artifact("notation", [
        blobOf(
          Buffer.from(JSON.stringify({ protected: 1, payload: {}, header: { x5c: "no" }, signature: null })),
          MEDIA.jws,
        ),
      ]),
    ],
    [
      "Notation x5c of garbage",
      artifact("notation", [
        blobOf(
          Buffer.from(
            JSON.stringify({
              protected: "e30",
              payload: Buffer.from(JSON.stringify({ targetArtifact: { digest: DIGEST } })).toString(
                "base64url",
              ),
              header: { x5c: ["AAAA"] },
              signature: "AA",
            }),
          ),
          MEDIA.jws,
        ),
      ]),
    ],
  ])("gives a non-verified result with a one-line detail for %s", (_name, art) => {
    const report = verifyTrust(trustFacts({ digest: DIGEST, signatures: [art] }), MATERIAL, NOW);
    expect(report.signatures.length).toBeGreaterThan(0);
    for (const s of report.signatures) {
      expect(["invalid", "untrusted", "unverified"]).toContain(s.status);
      expect(s.detail).not.toMatch(/\n/);
    }
  });

  it.each<[string, AttestationArtifact]>([
    [
      "nested 100000 deep",
      attestationArtifact("buildkit", DIGEST, [rawBlob(Buffer.from(DEEP).toString("base64"), MEDIA.inToto)]),
    ],
    [
      "predicate fields of the wrong types",
      attestationArtifact("buildkit", DIGEST, [
        blobOf(
          Buffer.from(
            JSON.stringify({
              _type: "https://in-toto.io/Statement/v1",
              predicateType: "https://slsa.dev/provenance/v1",
              subject: "x",
              predicate: { buildDefinition: [], runDetails: { metadata: { buildkit_metadata: { vcs: 5 } } } },
            }),
          ),
          MEDIA.inToto,
        ),
      ]),
    ],
    [
      "an SBOM whose packages are not objects",
      attestationArtifact("buildkit", DIGEST, [
        blobOf(
          Buffer.from(
            JSON.stringify({
              _type: "https://in-toto.io/Statement/v1",
              predicateType: "https://spdx.dev/Document",
              subject: [{ digest: { sha256: 5 } }],
              predicate: { packages: [null, 1, "x"], components: {} },
            }),
          ),
          MEDIA.inToto,
        ),
      ]),
    ],
  ])("never throws on an attestation %s", (_name, art) => {
    expect(() =>
      verifyTrust(trustFacts({ digest: DIGEST, attestations: [art] }), MATERIAL, NOW),
    ).not.toThrow();
  });

  it("never throws on notary metadata of the wrong shape", () => {
    const garbage = Buffer.from(
      JSON.stringify({
        signed: { _type: "Root", keys: { a: { keytype: "ecdsa", keyval: { public: "!!" } } }, roles: 5 },
        signatures: "x",
      }),
    ).toString("base64");
    const notary = {
      server: "http://127.0.0.1:1",
      gun: "x",
      root: garbage,
      timestamp: "%%",
      snapshot: garbage,
      targets: garbage,
    };
    const report = verifyTrust(trustFacts({ digest: DIGEST, notary }), MATERIAL, NOW);
    expect(report.signatures[0]?.status).toBe("invalid");
  });

  it("reports unusable trust material as notes and still checks the rest", () => {
    const key = makeKey();
    const material: TrustMaterial = {
      keys: [
        { name: "typo", pem: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" },
        { name: "k", pem: key.publicPem },
      ],
      keyless: [{ issuer: "^(unclosed$", subject: "x" }],
      trustedRoot: "not a root",
      notationCerts: ["garbage"],
      rekorKeys: [{ name: "bad", pem: "x" }],
    };
    const report = verifyTrust(trustFacts({ digest: DIGEST }), material, NOW);
    expect(report.notes).toHaveLength(5);
  });

  it("never verifies a mutated vector and never throws", () => {
    const { digest, artifact: vector } = cosignVector(
      "containers-image-cosign/dir-img-cosign-fulcio-rekor-valid",
    );
    const layer = vector.blobs[0]!;
    const root = readVectorJson("sigstore-go/trusted-root-public-good.json");
    const bundle = readVector("cosign/oci-attestation.sigstore.json");
    const notation = readVector("notation/jws_signature.sig");
    const material: TrustMaterial = { ...MATERIAL, trustedRoot: root };
    let verified = 0;
    for (const bytes of mutations(Buffer.from(layer.data, "base64"), 60, 7)) {
      const art = { ...vector, blobs: [{ ...layer, data: bytes.toString("base64") }] };
      const sig = verifyTrust(trustFacts({ digest, signatures: [art] }), material, NOW).signatures[0];
      if (sig?.status === "verified" && !bytes.equals(Buffer.from(layer.data, "base64"))) verified++;
    }
    for (const bytes of mutations(bundle, 60, 11)) {
      const art = artifact("sigstore-bundle", [blobOf(bytes, MEDIA.bundleV03)]);
      verifyTrust(trustFacts({ digest: DIGEST, signatures: [art] }), material, NOW);
      verifyTrust(
        trustFacts({
          digest: DIGEST,
          attestations: [attestationArtifact("referrer", DIGEST, [blobOf(bytes, MEDIA.bundleV03)])],
        }),
        material,
        NOW,
      );
    }
    for (const bytes of mutations(notation, 60, 13)) {
      const art = artifact("notation", [blobOf(bytes, MEDIA.jws)]);
      verifyTrust(trustFacts({ digest: DIGEST, signatures: [art] }), { ...material, notationCerts: [] }, NOW);
    }
    // A mutated payload whose JSON still parses with the same meaning (e.g. whitespace) could verify only if
    // the signature covered it unchanged, which a byte change rules out.
    expect(verified).toBe(0);
  });
});

describe("parseJson", () => {
  it.each([
    ["deep nesting", DEEP, false],
    ["brackets inside strings do not count", JSON.stringify({ s: "[".repeat(1000) }), true],
    ["plain JSON", '{"a":[1,2,{"b":null}]}', true],
    ["invalid JSON", "{", false],
  ])("%s", (_name, text, ok) => {
    expect(parseJson(text).ok).toBe(ok);
  });
});
