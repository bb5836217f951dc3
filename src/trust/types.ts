/**
 * Results of verifying the signature and attestation bytes held in ImageFacts. Produced by
 * `verifyTrust()` in this module (pure), read by the trust and provenance checks.
 */

/** How one signature fared. */
export type SignatureStatus =
  /** The signature verifies against a trusted key or identity, and names this image's digest. */
  | "verified"
  /** The signature is well-formed, but no trusted key or identity verifies it. */
  | "untrusted"
  /** Present for this digest but broken: bad signature, or its payload names another digest. */
  | "invalid"
  /** Present but could not be verified here (e.g. Notation without a matching trust store): never counts as verified. */
  | "unverified";

/** One signature's verification result. */
export interface SignatureVerification {
  kind: "cosign" | "sigstore-bundle" | "notation" | "notary-v1";
  foundVia: string;
  status: SignatureStatus;
  /** The trusted key name, or the keyless identity `subject` (`issuer`), when known. */
  signer?: string;
  /** The digest the signature's payload names. */
  signedDigest?: string;
  /** One line: why this status. */
  detail: string;
}

/** What an attestation said. */
export interface AttestationSummary {
  foundVia: string;
  predicateType: string;
  kind: "slsa-provenance" | "sbom-spdx" | "sbom-cyclonedx" | "vuln-scan" | "other";
  /** Source repository named by a provenance attestation. */
  sourceRepository?: string;
  /** Source revision (commit) named by a provenance attestation. */
  sourceRevision?: string;
  /** Builder id of a provenance attestation. */
  builder?: string;
  /** Interpreter/runtime packages named by an SBOM (python, node, ...). */
  runtimes?: string[];
  /** Whether a signature over the attestation verified: true, false (broken), or null (unsigned, as BuildKit's are). */
  signatureVerified: boolean | null;
  /** Does the statement's subject name this image's digest? null when it names none. */
  subjectMatches: boolean | null;
}

/**
 * A statement kept whole for the vulnerability layer (scan results, VEX, SBOMs), with who signed it.
 * Never printed: reports show `attestations` and the vulnerability summary instead.
 */
export interface StatementRecord {
  foundVia: string;
  /** How the attestation was stored (facts' AttestationArtifact kind). */
  artifactKind: "buildkit" | "cosign-att" | "referrer";
  predicateType: string;
  predicate: unknown;
  /** The trusted key name or keyless identity whose signature over it verified; null when none did. */
  signer: string | null;
  /** Does the statement's subject name this image's digest? null when it names none. */
  subjectMatches: boolean | null;
  /** The digest of the blob it was read from (verified by the facts layer): what names this data's version. */
  blobDigest?: string;
}

/** Everything the trust layer concluded. */
export interface TrustReport {
  signatures: SignatureVerification[];
  attestations: AttestationSummary[];
  /** Vulnerability-related statements (absent in reports made before they were read). */
  statements?: StatementRecord[];
  /** Notes for the report, e.g. that Docker Content Trust was retired on Docker Hub. */
  notes: string[];
}

/**
 * What signatures are checked against: the policy's keys and identities plus the Sigstore trusted
 * root. Built from the policy by `trustMaterialFromPolicy()` (material.ts); plain data.
 */
export interface TrustMaterial {
  /** Trusted signing keys: PEM public keys (or certificates, whose key is used). */
  keys: { name: string; pem: string }[];
  /** Trusted Sigstore identities: issuer and certificate SAN, exact or a regex when wrapped in `^...$`. */
  keyless: { issuer: string; subject: string }[];
  /** A parsed Sigstore trusted_root.json (Fulcio CAs, Rekor and CT log keys, TSAs). */
  trustedRoot: unknown;
  /**
   * Legacy content trust servers, by registry host. `rootKeyId` pins the repository's root key (its
   * key id as root.json lists it under roles.root.keyids): without a pin, or the root's public key
   * among `keys`, a chain that verifies is only `unverified` (its root was trusted on first use).
   */
  notary?: { registry: string; server: string; rootKeyId?: string }[];
  /** Extra Rekor log public keys (PEM), for log entries of logs the trusted root does not list (e.g. a private Rekor). */
  rekorKeys?: { name: string; pem: string }[];
  /** Notation trust store: PEM certificates (a signing leaf or a CA above it). Certificate PEMs among `keys` count too. */
  notationCerts?: string[];
}

/** An empty report (no signatures, no attestations). */
export const EMPTY_TRUST: TrustReport = { signatures: [], attestations: [], notes: [] };
