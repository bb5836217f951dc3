/**
 * Attestations: in-toto statements as BuildKit stores them (raw, unsigned, in the image index),
 * as cosign `.att` layers (DSSE envelopes, with cosign's signature annotations), or as Sigstore
 * bundles with a DSSE envelope (OCI referrers). Each statement is summarized: what it is,
 * provenance source and revision, SBOM runtimes, whether its subject is this image, and whether
 * its signature verified against the policy (only asked when the policy trusts some signer).
 */
import type { AttestationArtifact, FetchedBlob } from "../facts/model.js";
import { looksLikeBundle, parseBundle } from "./bundle.js";
import type { TrustContext } from "./context.js";
import { classicBundle } from "./cosign.js";
import {
  dsseFrom,
  IN_TOTO_PAYLOAD_TYPE,
  looksLikeDsse,
  parseStatement,
  type Statement,
  statementFrom,
  subjectMatches,
} from "./intoto.js";
import { clip, decodeBase64, isObject, type Parsed, parseJson } from "./parse.js";
import { isSlsaProvenance, readProvenance } from "./provenance.js";
import { isCycloneDx, isSpdx, sbomRuntimes } from "./sbom.js";
import { verifyBundle } from "./sigstore.js";
import type { AttestationSummary, StatementRecord } from "./types.js";

/** Which kind of attestation a predicate type is. */
export function attestationKind(predicateType: string): AttestationSummary["kind"] {
  if (isSlsaProvenance(predicateType)) return "slsa-provenance";
  if (isSpdx(predicateType)) return "sbom-spdx";
  if (isCycloneDx(predicateType)) return "sbom-cyclonedx";
  if (/vuln/i.test(predicateType)) return "vuln-scan";
  return "other";
}

/** A statement and the verdict on its signature: true, false, or null when unsigned or not asked. */
type Unwrapped = { statement: Statement; signatureVerified: boolean | null; signer?: string };

function unwrap(blob: FetchedBlob, ctx: TrustContext): Parsed<Unwrapped> {
  const bytes = decodeBase64(blob.data);
  if (!bytes.ok) return { ok: false, reason: "not base64" };
  const json = parseJson(bytes.value);
  if (!json.ok) return json;

  if (looksLikeBundle(json.value)) {
    const bundle = parseBundle(json.value);
    if (!bundle.ok) return bundle;
    if (bundle.value.content.$case !== "dsseEnvelope")
      return { ok: false, reason: "bundle signs a message, not a statement" };
    const statement = parseStatement(bundle.value.content.dsseEnvelope.payload);
    if (!statement.ok) return statement;
    const outcome = ctx.hasTrust ? verifyBundle(bundle.value, {}, ctx.sigstore) : null;
    const signatureVerified = outcome ? outcome.status === "verified" : null;
    const signer = outcome?.status === "verified" ? outcome.signer : undefined;
    return {
      ok: true,
      value: { statement: statement.value, signatureVerified, ...(signer ? { signer } : {}) },
    };
  }

  if (looksLikeDsse(json.value)) {
    const env = dsseFrom(json.value);
    if (!env.ok) return env;
    if (env.value.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      return { ok: false, reason: `DSSE payload type ${clip(env.value.payloadType, 60)} is not in-toto` };
    }
    const statement = parseStatement(env.value.payload);
    if (!statement.ok) return statement;
    if (env.value.signatures.length === 0 || !ctx.hasTrust) {
      return { ok: true, value: { statement: statement.value, signatureVerified: null } };
    }
    const { bundle } = classicBundle({ dsseEnvelope: env.value.json }, blob.annotations);
    const outcome = bundle.ok ? verifyBundle(bundle.value, {}, ctx.sigstore) : null;
    const signatureVerified = outcome?.status === "verified";
    const signer = signatureVerified ? outcome?.signer : undefined;
    return {
      ok: true,
      value: { statement: statement.value, signatureVerified, ...(signer ? { signer } : {}) },
    };
  }

  const statement = statementFrom(json.value);
  return statement.ok
    ? { ok: true, value: { statement: statement.value, signatureVerified: null } }
    : statement;
}

function summarize(foundVia: string, u: Unwrapped, ctx: TrustContext): AttestationSummary {
  const { predicateType, predicate } = u.statement;
  const kind = attestationKind(predicateType);
  const summary: AttestationSummary = {
    foundVia,
    predicateType,
    kind,
    signatureVerified: u.signatureVerified,
    subjectMatches: subjectMatches(u.statement, ctx.digests),
  };
  if (kind === "slsa-provenance") Object.assign(summary, readProvenance(predicateType, predicate));
  if (kind === "sbom-spdx" || kind === "sbom-cyclonedx") summary.runtimes = sbomRuntimes(predicate);
  return summary;
}

/** Statements the vulnerability layer reads: scan results, VEX and SBOMs (predicate kept). */
function keepsPredicate(predicateType: string): boolean {
  const kind = attestationKind(predicateType);
  return (
    kind === "vuln-scan" ||
    kind === "sbom-spdx" ||
    kind === "sbom-cyclonedx" ||
    /openvex/i.test(predicateType)
  );
}

/** The media and artifact type of an OpenVEX document attached as a referrer of its own (`oras attach`, `vexctl attach`). */
export const OPENVEX_MEDIA_TYPE = "application/vnd.openvex+json";

/**
 * OpenVEX documents attached as referrers, not wrapped in a statement: no signature of their own
 * (signer null), about the subject the referrer manifest names, which the facts layer checked is
 * this image. Kept with their `@context` as predicate type, for the vulnerability layer to judge.
 */
function plainOpenVex(
  art: AttestationArtifact,
  ctx: TrustContext,
): { attestations: AttestationSummary[]; notes: string[]; statements: StatementRecord[] } {
  const out = {
    attestations: [] as AttestationSummary[],
    notes: [] as string[],
    statements: [] as StatementRecord[],
  };
  const subjectMatches = ctx.digests.has(art.subjectDigest);
  for (const blob of art.blobs) {
    if (blob.mediaType !== OPENVEX_MEDIA_TYPE) continue;
    const bytes = decodeBase64(blob.data);
    const json = bytes.ok ? parseJson(bytes.value) : bytes;
    const context = json.ok && isObject(json.value) ? json.value["@context"] : undefined;
    if (!json.ok || typeof context !== "string") {
      out.notes.push(
        `OpenVEX ${clip(art.foundVia, 80)} could not be read: ${json.ok ? "no @context" : json.reason}`,
      );
      continue;
    }
    const predicateType = clip(context, 200);
    out.attestations.push({
      foundVia: art.foundVia,
      predicateType,
      kind: "other",
      signatureVerified: null,
      subjectMatches,
    });
    out.statements.push({
      foundVia: art.foundVia,
      artifactKind: art.kind,
      predicateType,
      predicate: json.value,
      signer: null,
      subjectMatches,
      ...(blob.digest ? { blobDigest: blob.digest } : {}),
    });
  }
  return out;
}

/** Summarizes every statement in the fetched attestations; unreadable blobs become notes. */
export function summarizeAttestations(
  artifacts: readonly AttestationArtifact[],
  ctx: TrustContext,
): { attestations: AttestationSummary[]; notes: string[]; statements: StatementRecord[] } {
  const attestations: AttestationSummary[] = [];
  const statements: StatementRecord[] = [];
  const notes: string[] = [];
  for (const art of artifacts) {
    if (art.artifactType === OPENVEX_MEDIA_TYPE) {
      const read = plainOpenVex(art, ctx);
      attestations.push(...read.attestations);
      statements.push(...read.statements);
      notes.push(...read.notes);
      continue;
    }
    for (const blob of art.blobs) {
      const u = unwrap(blob, ctx);
      if (!u.ok) {
        notes.push(`attestation ${clip(art.foundVia, 80)} could not be read: ${u.reason}`);
        continue;
      }
      const summary = summarize(art.foundVia, u.value, ctx);
      attestations.push(summary);
      if (keepsPredicate(summary.predicateType)) {
        statements.push({
          foundVia: art.foundVia,
          artifactKind: art.kind,
          predicateType: summary.predicateType,
          predicate: u.value.statement.predicate,
          signer: u.value.signer ?? null,
          subjectMatches: summary.subjectMatches,
          ...(blob.digest ? { blobDigest: blob.digest } : {}),
        });
      }
    }
  }
  return { attestations, notes, statements };
}
