/**
 * What the signature and attestation artifacts next to an image look like, so the source knows
 * what to fetch and how to file it. Only recognition lives here; verification is the trust
 * layer's, over the bytes fetched.
 *
 * - cosign classic: tags `sha256-<hex>.sig` / `.att` (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md)
 * - OCI referrers and the fallback tag `sha256-<hex>` (distribution spec, "Listing Referrers")
 * - cosign 3 Sigstore bundles as referrers (artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`)
 * - Notary Project signatures (artifactType `application/vnd.cncf.notary.signature`)
 * - BuildKit attestation manifests inside an index (https://docs.docker.com/build/metadata/attestations/attestation-storage/)
 * - OpenVEX documents as referrers (artifactType `application/vnd.openvex+json`, as `oras attach`
 *   and `vexctl attach` push them), not wrapped in an in-toto statement
 */
import type { FetchedBlob } from "../facts/model.js";
import type { Descriptor } from "./client.js";

/** Media and artifact types recognized. */
export const ARTIFACT_TYPES = {
  notation: "application/vnd.cncf.notary.signature",
  inToto: "application/vnd.in-toto+json",
  dsse: "application/vnd.dsse.envelope.v1+json",
  sigstoreBundlePrefix: "application/vnd.dev.sigstore.bundle",
  openvex: "application/vnd.openvex+json",
} as const;

/** The predicate type cosign 3 uses for a plain image signature wrapped in DSSE. */
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";

/** BuildKit's annotations on an attestation manifest's index entry. */
export const BUILDKIT = {
  typeAnnotation: "vnd.docker.reference.type",
  attestationManifest: "attestation-manifest",
  digestAnnotation: "vnd.docker.reference.digest",
  predicateAnnotation: "in-toto.io/predicate-type",
} as const;

/** Caps on what one image may make us fetch, each with why. */
export const ARTIFACT_LIMITS = {
  /** Referrers per subject: real images carry a handful (signatures, SBOM, provenance). */
  referrersPerSubject: 32,
  /** Blobs per artifact manifest: a signature or attestation manifest holds one or a few. */
  blobsPerArtifact: 8,
  /**
   * BuildKit attestation manifests of an index considered for the chosen platform: BuildKit writes
   * one per platform manifest; a few leave room for other tools, not for an index naming thousands.
   */
  attestationManifestsPerImage: 4,
  /**
   * A cosign `.sig` or `.att` manifest read by tag without a HEAD first: its size is unknown until
   * read, so this much is reserved in the gather's budget and the GET is capped at it. One layer
   * with keyless annotations (certificate, chain, Rekor bundle) is under 10 KiB, and only
   * `blobsPerArtifact` layers are read; a manifest larger than this is refused (TOO_LARGE, recorded
   * as incomplete), as one with too many layers is.
   */
  tagManifestBytes: 256 * 1024,
  /**
   * The referrers fallback index (`sha256-<hex>`), read by tag the same way. Only
   * `referrersPerSubject` of its entries are read, each a descriptor of a few hundred bytes; an
   * index past this lists hundreds of referrers, which leaves the look-up incomplete (TOO_LARGE)
   * whether or not its first entries were read.
   */
  fallbackIndexBytes: 512 * 1024,
} as const;

/** The cosign tag for a digest: `sha256-<hex>` plus `.sig`, `.att` or nothing (the referrers fallback tag). */
export function digestTag(digest: string, suffix: "" | ".sig" | ".att" = ""): string {
  return `${digest.replace(":", "-")}${suffix}`;
}

/** How a referrer descriptor is handled. */
export type ReferrerKind = "sigstore-bundle" | "notation" | "in-toto" | "openvex" | "unknown" | "ignore";

/** Classify a referrer by its artifact type. `unknown` (no artifact type given) means: fetch the manifest to see. */
export function referrerKind(artifactType: string | undefined): ReferrerKind {
  if (!artifactType) return "unknown";
  if (artifactType.startsWith(ARTIFACT_TYPES.sigstoreBundlePrefix)) return "sigstore-bundle";
  if (artifactType === ARTIFACT_TYPES.notation) return "notation";
  if (artifactType === ARTIFACT_TYPES.openvex) return "openvex";
  if (
    artifactType === ARTIFACT_TYPES.inToto ||
    artifactType === ARTIFACT_TYPES.dsse ||
    artifactType.includes("in-toto")
  )
    return "in-toto";
  return "ignore";
}

/** Whether an index entry is a BuildKit attestation manifest for `platformDigest`. */
export function isBuildkitAttestationFor(entry: Descriptor, platformDigest: string): boolean {
  const a = entry.annotations ?? {};
  return (
    a[BUILDKIT.typeAnnotation] === BUILDKIT.attestationManifest &&
    a[BUILDKIT.digestAnnotation] === platformDigest
  );
}

/** Whether an index entry is an attestation manifest rather than a runnable platform. */
export function isAttestationEntry(entry: Descriptor): boolean {
  return (
    entry.annotations?.[BUILDKIT.typeAnnotation] === BUILDKIT.attestationManifest ||
    (entry.platform?.os === "unknown" && entry.platform?.architecture === "unknown")
  );
}

/** The predicate types announced by annotations, before anything is parsed. */
export function announcedPredicates(
  manifestAnnotations: Record<string, string>,
  blobs: FetchedBlob[],
): string[] {
  const found = new Set<string>();
  const fromManifest = manifestAnnotations["dev.sigstore.bundle.predicateType"];
  if (fromManifest) found.add(fromManifest);
  for (const b of blobs) {
    const t = b.annotations[BUILDKIT.predicateAnnotation] ?? b.annotations.predicateType;
    if (t) found.add(t);
  }
  return [...found];
}

/** The predicate type inside a Sigstore bundle's DSSE envelope, when it holds one. */
function bundlePredicate(blob: FetchedBlob): string | undefined | null {
  try {
    const bundle = JSON.parse(Buffer.from(blob.data, "base64").toString("utf8")) as {
      messageSignature?: unknown;
      dsseEnvelope?: { payload?: unknown };
    };
    if (bundle.messageSignature) return null;
    const payload = bundle.dsseEnvelope?.payload;
    if (typeof payload !== "string") return undefined;
    const statement = JSON.parse(Buffer.from(payload, "base64").toString("utf8")) as {
      predicateType?: unknown;
    };
    return typeof statement.predicateType === "string" ? statement.predicateType : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a Sigstore bundle referrer is an attestation (a DSSE statement with some predicate) or
 * a signature (a message signature, or cosign 3's DSSE signature predicate). Returns the
 * predicate type for attestations.
 */
export function bundleAttestationPredicate(
  manifestAnnotations: Record<string, string>,
  blobs: FetchedBlob[],
): string | undefined {
  const announced = manifestAnnotations["dev.sigstore.bundle.predicateType"];
  if (announced) return announced === COSIGN_SIGN_PREDICATE ? undefined : announced;
  if (manifestAnnotations["dev.sigstore.bundle.content"] === "message-signature") return undefined;
  for (const blob of blobs) {
    const predicate = bundlePredicate(blob);
    if (predicate && predicate !== COSIGN_SIGN_PREDICATE) return predicate;
  }
  return undefined;
}
