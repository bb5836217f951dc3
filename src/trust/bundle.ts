/**
 * Sigstore bundles attached to an image (cosign 3 stores one per signature as an OCI referrer,
 * artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`, or lists it in the `sha256-<hex>`
 * fallback index). The bundle is verified by @sigstore/verify (sigstore.ts); what it signed is
 * compared with the image here: the in-toto subject of a DSSE bundle (cosign 3 signs a statement
 * with predicate `https://sigstore.dev/cosign/sign/v1`), or the message digest of a
 * messageSignature bundle (a signature over the manifest bytes, whose digest is the image digest).
 */
import { type Bundle, bundleFromJSON } from "@sigstore/bundle";
import { HashAlgorithm } from "@sigstore/protobuf-specs";
import type { FetchedBlob, SignatureArtifact } from "../facts/model.js";
import type { TrustContext } from "./context.js";
import { describeDigests } from "./digests.js";
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, type Statement } from "./intoto.js";
import { clip, isObject, type Parsed, parseBase64Json, str } from "./parse.js";
import { type BlobResult, eachBlob } from "./results.js";
import { type SignedContent, verifyBundle } from "./sigstore.js";
import type { SignatureVerification } from "./types.js";

/** True for JSON that claims to be a Sigstore bundle (any version). */
export function looksLikeBundle(value: unknown): boolean {
  return isObject(value) && /^application\/vnd\.dev\.sigstore\.bundle/.test(str(value, "mediaType") ?? "");
}

/** Parses and validates a bundle; the reason names the fields @sigstore/bundle rejected. */
export function parseBundle(value: unknown): Parsed<Bundle> {
  try {
    return { ok: true, value: bundleFromJSON(value) };
  } catch (err) {
    const fields =
      isObject(err) && Array.isArray(err.fields) ? ` (${err.fields.slice(0, 3).join(", ")})` : "";
    return { ok: false, reason: `not a valid Sigstore bundle${fields}` };
  }
}

const HASH_NAMES: Partial<Record<HashAlgorithm, string>> = {
  [HashAlgorithm.SHA2_256]: "sha256",
  [HashAlgorithm.SHA2_384]: "sha384",
  [HashAlgorithm.SHA2_512]: "sha512",
};

/** The digest a bundle signs, checked against the image: what to verify, or why it is invalid. */
export function bundleSubject(
  bundle: Bundle,
  ctx: TrustContext,
):
  | { ok: true; content: SignedContent; signedDigest?: string; statement?: Statement }
  | { ok: false; status: "invalid"; detail: string; signedDigest?: string } {
  if (bundle.content.$case === "dsseEnvelope") {
    const env = bundle.content.dsseEnvelope;
    if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      return {
        ok: false,
        status: "invalid",
        detail: `DSSE payload type ${clip(env.payloadType, 60)} is not in-toto`,
      };
    }
    const statement = parseStatement(env.payload);
    if (!statement.ok) return { ok: false, status: "invalid", detail: `DSSE payload: ${statement.reason}` };
    const subjects = statement.value.subjectDigests;
    const match = subjects.find((d) => ctx.digests.has(d));
    if (!match) {
      const named = subjects[0];
      const what = named
        ? `its in-toto subject names ${named}`
        : "its in-toto statement names no subject digest";
      return {
        ok: false,
        status: "invalid",
        detail: `${what}, not this image (${describeDigests(ctx.digests)})`,
        ...(named ? { signedDigest: named } : {}),
      };
    }
    return { ok: true, content: {}, signedDigest: match, statement: statement.value };
  }
  const md = bundle.content.messageSignature.messageDigest;
  const hash = HASH_NAMES[md.algorithm];
  if (!hash) return { ok: false, status: "invalid", detail: "message digest uses an unsupported hash" };
  const named = `${hash}:${md.digest.toString("hex")}`;
  if (!ctx.digests.has(named)) {
    return {
      ok: false,
      status: "invalid",
      signedDigest: named,
      detail: `message digest ${named} is not this image (${describeDigests(ctx.digests)})`,
    };
  }
  return { ok: true, content: { digest: { bytes: md.digest, hash } }, signedDigest: named };
}

/** Verifies a bundle read from a fetched blob, for the signatures list. */
function verifyBundleBlob(blob: FetchedBlob, ctx: TrustContext): BlobResult {
  const json = parseBase64Json(blob.data);
  if (!json.ok) return { status: "invalid", detail: `bundle: ${json.reason}` };
  const bundle = parseBundle(json.value);
  if (!bundle.ok) return { status: "invalid", detail: bundle.reason };
  const subject = bundleSubject(bundle.value, ctx);
  if (!subject.ok) {
    const { ok: _ok, ...rest } = subject;
    return rest;
  }
  const outcome = verifyBundle(bundle.value, subject.content, ctx.sigstore);
  return subject.signedDigest ? { signedDigest: subject.signedDigest, ...outcome } : outcome;
}

/** Verifies each bundle blob of a Sigstore bundle referrer. */
export function verifySigstoreBundleArtifact(
  art: SignatureArtifact,
  ctx: TrustContext,
): SignatureVerification[] {
  return eachBlob(art, art.blobs, "bundle referrer has no layer", (blob) => verifyBundleBlob(blob, ctx));
}
