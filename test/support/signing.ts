// Makes signatures and attestations for tests, in the exact shapes cosign, cosign 3 (Sigstore
// bundles) and BuildKit produce, plus the facts-model wrappers the trust layer reads. Pushing them
// to a registry is image-builder.ts's job; these helpers only make bytes.
// Specs: cosign SIGNATURE_SPEC.md / ATTESTATION_SPEC.md, DSSE protocol.md, in-toto Statement v1,
// Sigstore bundle v0.3 (protobuf-specs sigstore_bundle.proto).
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import type {
  AttestationArtifact,
  FetchedBlob,
  ImageFacts,
  SignatureArtifact,
} from "../../src/facts/model.js";
import type { ImageReference } from "../../src/reference/types.js";
import type { TrustFacts } from "../../src/trust/verify.js";

/** Key types cosign signs with. */
export type KeyKind = "ecdsa-p256" | "ecdsa-p384" | "rsa" | "ed25519";

/** A test key pair with its public PEM (what a policy lists). */
export interface TestKey {
  kind: KeyKind;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
}

/** Media types used by the helpers. */
export const MEDIA = {
  simpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  dsse: "application/vnd.dsse.envelope.v1+json",
  inToto: "application/vnd.in-toto+json",
  bundleV03: "application/vnd.dev.sigstore.bundle.v0.3+json",
  notation: "application/vnd.cncf.notary.signature",
  jws: "application/jose+json",
} as const;

/** Predicate types. */
export const PREDICATE = {
  cosignSign: "https://sigstore.dev/cosign/sign/v1",
  slsaV02: "https://slsa.dev/provenance/v0.2",
  slsaV1: "https://slsa.dev/provenance/v1",
  spdx: "https://spdx.dev/Document",
  cyclonedx: "https://cyclonedx.org/bom",
} as const;

/** A fresh key pair of `kind` (RSA: 2048 bits, enough for tests). */
export function makeKey(kind: KeyKind = "ecdsa-p256"): TestKey {
  const pair =
    kind === "ecdsa-p256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : kind === "ecdsa-p384"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : kind === "rsa"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ed25519");
  return {
    kind,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** Signs like cosign: SHA-256 for ECDSA (any curve) and RSA (PKCS#1 v1.5), the message itself for Ed25519. */
export function signBytes(key: TestKey, data: Buffer): Buffer {
  return sign(key.kind === "ed25519" ? null : "sha256", data, key.privateKey);
}

/** `sha256:<hex>`. */
export function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A fetched blob (what the facts layer keeps) from bytes. */
export function blobOf(
  bytes: Buffer,
  mediaType: string,
  annotations: Record<string, string> = {},
): FetchedBlob {
  return {
    mediaType,
    digest: sha256(bytes),
    size: bytes.length,
    annotations,
    data: bytes.toString("base64"),
  };
}

/** A cosign simple-signing payload naming `digest`. */
export function simpleSigningPayload(
  digest: string,
  opts: { dockerReference?: string; type?: string } = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": opts.dockerReference ?? "registry.test/app" },
        image: { "docker-manifest-digest": digest },
        type: opts.type ?? "cosign container image signature",
      },
      optional: null,
    }),
  );
}

/**
 * One layer of a cosign `.sig` manifest: a payload naming `digest`, signed by `key`.
 * `tamper` changes the payload after signing; `payloadDigest` makes the payload name another digest.
 */
export function cosignSignatureLayer(
  key: TestKey,
  digest: string,
  opts: { payloadDigest?: string; tamper?: boolean; annotations?: Record<string, string> } = {},
): FetchedBlob {
  const payload = simpleSigningPayload(opts.payloadDigest ?? digest);
  const signature = signBytes(key, payload).toString("base64");
  const stored = opts.tamper
    ? simpleSigningPayload(opts.payloadDigest ?? digest, { dockerReference: "evil.test/app" })
    : payload;
  return blobOf(stored, MEDIA.simpleSigning, {
    "dev.cosignproject.cosign/signature": signature,
    ...opts.annotations,
  });
}

/** A cosign `.sig` artifact for `digest` holding `layers`. */
export function cosignSignatureArtifact(digest: string, layers: FetchedBlob[]): SignatureArtifact {
  return {
    kind: "cosign",
    foundVia: `tag:${digest.replace(":", "-")}.sig`,
    manifestDigest: sha256(Buffer.from(JSON.stringify(layers.map((l) => l.digest)))),
    subjectDigest: digest,
    manifestAnnotations: {},
    blobs: layers,
  };
}

/** An in-toto v1 statement about `digest`. */
export function inTotoStatement(digest: string, predicateType: string, predicate: unknown = {}): object {
  const [alg, hex] = digest.split(":");
  return {
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: "registry.test/app", digest: { [alg ?? "sha256"]: hex } }],
    predicateType,
    predicate,
  };
}

/** DSSE pre-authentication encoding. */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

/** A DSSE envelope of `statement`, signed by `key` (unsigned when `key` is null). */
export function dsseEnvelope(
  statement: object | Buffer,
  key: TestKey | null,
  payloadType: string = MEDIA.inToto,
): { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] } {
  const payload = Buffer.isBuffer(statement) ? statement : Buffer.from(JSON.stringify(statement));
  const signatures = key
    ? [{ keyid: "", sig: signBytes(key, dssePae(payloadType, payload)).toString("base64") }]
    : [];
  return { payloadType, payload: payload.toString("base64"), signatures };
}

/** The hint a key-based bundle names its key by (any string works; this is the SPKI SHA-256). */
export function publicKeyHint(key: TestKey): string {
  return createHash("sha256")
    .update(key.publicKey.export({ type: "spki", format: "der" }))
    .digest("base64");
}

/**
 * A key-based Sigstore bundle v0.3 without transparency log entries, as cosign 3 writes with
 * `--key ... --tlog-upload=false`: a DSSE envelope of a statement about `digest` (what cosign 3's
 * `sign` makes, predicate `https://sigstore.dev/cosign/sign/v1`), or a message signature over
 * `artifact` (e.g. the manifest bytes, whose digest is the image digest).
 */
export function keyBundle(
  key: TestKey,
  content: { statement: object } | { artifact: Buffer },
): Record<string, unknown> {
  const verificationMaterial = { publicKey: { hint: publicKeyHint(key) }, tlogEntries: [] };
  if ("statement" in content) {
    const env = dsseEnvelope(content.statement, key);
    return {
      mediaType: MEDIA.bundleV03,
      verificationMaterial,
      dsseEnvelope: { ...env, signatures: env.signatures.map((s) => ({ ...s, keyid: publicKeyHint(key) })) },
    };
  }
  return {
    mediaType: MEDIA.bundleV03,
    verificationMaterial,
    messageSignature: {
      messageDigest: {
        algorithm: "SHA2_256",
        digest: createHash("sha256").update(content.artifact).digest("base64"),
      },
      signature: signBytes(key, content.artifact).toString("base64"),
    },
  };
}

/** A cosign 3 image signature bundle: a DSSE statement with the sign predicate about `digest`. */
export function cosign3SignatureBundle(key: TestKey, digest: string): Record<string, unknown> {
  return keyBundle(key, { statement: inTotoStatement(digest, PREDICATE.cosignSign) });
}

/** A Sigstore bundle referrer (one layer) for `digest`. */
export function bundleArtifact(digest: string, bundle: unknown): SignatureArtifact {
  const blob = blobOf(Buffer.from(JSON.stringify(bundle)), MEDIA.bundleV03);
  return {
    kind: "sigstore-bundle",
    foundVia: "referrers",
    manifestDigest: sha256(Buffer.from(blob.digest)),
    subjectDigest: digest,
    artifactType: MEDIA.bundleV03,
    manifestAnnotations: { "dev.sigstore.bundle.content": "dsse-envelope" },
    blobs: [blob],
  };
}

/** An attestation artifact of `kind` for `digest` holding `blobs`. */
export function attestationArtifact(
  kind: AttestationArtifact["kind"],
  digest: string,
  blobs: FetchedBlob[],
): AttestationArtifact {
  return {
    kind,
    foundVia:
      kind === "cosign-att"
        ? `tag:${digest.replace(":", "-")}.att`
        : kind === "buildkit"
          ? "index"
          : "referrers",
    manifestDigest: sha256(Buffer.from(JSON.stringify(blobs.map((b) => b.digest)))),
    subjectDigest: digest,
    predicateTypes: [],
    manifestAnnotations: {},
    blobs,
  };
}

/** A BuildKit-style SLSA v1 provenance statement naming a Git source and revision. */
export function provenanceStatement(
  digest: string,
  source: { repository: string; revision: string },
  version: "v0.2" | "v1" = "v1",
): object {
  if (version === "v0.2") {
    return {
      ...inTotoStatement(digest, PREDICATE.slsaV02),
      _type: "https://in-toto.io/Statement/v0.1",
      predicate: {
        builder: { id: "" },
        buildType: "https://mobyproject.org/buildkit@v1",
        invocation: {
          configSource: {
            uri: `${source.repository}#main`,
            digest: { sha1: source.revision },
            entryPoint: "Dockerfile",
          },
        },
        materials: [],
      },
    };
  }
  return inTotoStatement(digest, PREDICATE.slsaV1, {
    buildDefinition: {
      buildType: "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
      externalParameters: { configSource: { path: "Dockerfile" }, request: { frontend: "dockerfile.v0" } },
      internalParameters: { builderPlatform: "linux/amd64" },
      resolvedDependencies: [],
    },
    runDetails: {
      builder: { id: "" },
      metadata: { buildkit_metadata: { vcs: { source: source.repository, revision: source.revision } } },
    },
  });
}

/** An SPDX 2.3 SBOM statement listing `packages` by name. */
export function spdxStatement(digest: string, packages: string[]): object {
  return inTotoStatement(digest, PREDICATE.spdx, {
    spdxVersion: "SPDX-2.3",
    SPDXID: "SPDXRef-DOCUMENT",
    name: "sbom",
    packages: packages.map((name, i) => ({ name, SPDXID: `SPDXRef-Package-${i}`, versionInfo: "1.0" })),
  });
}

/** The facts the trust layer reads, for an image whose tag resolves to `digest`. */
export function trustFacts(opts: {
  digest: string;
  manifestDigest?: string;
  signatures?: SignatureArtifact[];
  attestations?: AttestationArtifact[];
  notary?: ImageFacts["notary"];
  reference?: Partial<ImageReference>;
}): TrustFacts {
  const reference: ImageReference = {
    registry: "registry.test",
    repository: "app",
    tag: "v1",
    original: "registry.test/app:v1",
    ...opts.reference,
  };
  return {
    reference,
    digest: opts.digest,
    manifestDigest: opts.manifestDigest ?? opts.digest,
    signatures: opts.signatures ?? [],
    attestations: opts.attestations ?? [],
    ...(opts.notary ? { notary: opts.notary } : {}),
  };
}
