/**
 * Classic cosign signatures: a `sha256-<hex>.sig` manifest whose layers are simple-signing
 * payloads, with the signature and (keyless) certificate, chain and Rekor bundle in annotations
 * (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md). Each layer becomes a
 * Sigstore v0.1 bundle so that one verifier (sigstore.ts) handles keys, Fulcio chains and Rekor
 * SETs alike. The `.att` form (DSSE envelope layers with the same annotations) converts the same way.
 */
import { Buffer } from "node:buffer";
import { createHash, X509Certificate } from "node:crypto";
import { type Bundle, bundleFromJSON } from "@sigstore/bundle";
import type { SignatureArtifact } from "../facts/model.js";
import type { TrustContext } from "./context.js";
import { describeDigests, normalizeDigest } from "./digests.js";
import { at, clip, decodeBase64, isObject, type Parsed, parseJson, pemBlocks, str } from "./parse.js";
import { type BlobResult, eachBlob } from "./results.js";
import { verifyBundle } from "./sigstore.js";
import type { SignatureVerification } from "./types.js";

/** Annotations cosign writes on each signature or attestation layer. */
export const COSIGN_ANNOTATIONS = {
  signature: "dev.cosignproject.cosign/signature",
  certificate: "dev.sigstore.cosign/certificate",
  chain: "dev.sigstore.cosign/chain",
  bundle: "dev.sigstore.cosign/bundle",
} as const;

/** `critical.type` of a cosign image signature payload. */
const SIMPLE_SIGNING_TYPES = new Set([
  "cosign container image signature",
  "https://sigstore.dev/cosign/sign/v1",
]);

const BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/** Reads the Rekor bundle annotation (`{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`) as a bundle tlog entry. */
function tlogEntryFrom(annotation: string): Parsed<unknown> {
  const parsed = parseJson(annotation);
  if (!parsed.ok) return { ok: false, reason: "Rekor bundle annotation is not JSON" };
  const set = str(parsed.value, "SignedEntryTimestamp");
  const body = str(parsed.value, "Payload", "body");
  const integratedTime = at(parsed.value, "Payload", "integratedTime");
  const logIndex = at(parsed.value, "Payload", "logIndex");
  const logID = str(parsed.value, "Payload", "logID");
  if (!set || !body || !Number.isSafeInteger(integratedTime) || !Number.isSafeInteger(logIndex)) {
    return { ok: false, reason: "Rekor bundle annotation lacks its SET or payload" };
  }
  if (!logID || !/^[0-9a-f]{64}$/i.test(logID))
    return { ok: false, reason: "Rekor bundle has a malformed logID" };
  const decoded = decodeBase64(body);
  const entry = decoded.ok ? parseJson(decoded.value) : decoded;
  if (!entry.ok) return { ok: false, reason: "Rekor entry body is not base64 JSON" };
  const kind = str(entry.value, "kind");
  const version = str(entry.value, "apiVersion");
  if (!kind || !version) return { ok: false, reason: "Rekor entry body has no kind" };
  return {
    ok: true,
    value: {
      logIndex: String(logIndex),
      logId: { keyId: Buffer.from(logID, "hex").toString("base64") },
      kindVersion: { kind, version },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set },
      canonicalizedBody: body,
    },
  };
}

/** What a classic layer signs, in bundle terms. */
export type ClassicContent =
  | { messageSignature: { messageDigest: { algorithm: "SHA2_256"; digest: string }; signature: string } }
  | { dsseEnvelope: unknown };

/**
 * Turns a classic cosign layer's annotations plus its signed content into a Sigstore v0.1 bundle.
 * `notes` says what could not be used (a broken Rekor annotation is not fatal for key signatures).
 */
export function classicBundle(
  content: ClassicContent,
  annotations: Record<string, string>,
): { bundle: Parsed<Bundle>; notes: string[] } {
  const notes: string[] = [];
  const tlogEntries: unknown[] = [];
  const rekor = annotations[COSIGN_ANNOTATIONS.bundle];
  if (rekor) {
    const entry = tlogEntryFrom(rekor);
    if (entry.ok) tlogEntries.push(entry.value);
    else notes.push(entry.reason);
  }
  let verificationMaterial: Record<string, unknown> = { publicKey: { hint: "" }, tlogEntries };
  const certPem = annotations[COSIGN_ANNOTATIONS.certificate];
  if (certPem) {
    const pems = [
      ...pemBlocks(certPem).slice(0, 1),
      ...pemBlocks(annotations[COSIGN_ANNOTATIONS.chain] ?? ""),
    ];
    try {
      const certificates = pems.map((p) => ({ rawBytes: new X509Certificate(p).raw.toString("base64") }));
      if (certificates.length === 0) throw new Error("no certificate");
      verificationMaterial = { x509CertificateChain: { certificates }, tlogEntries };
    } catch {
      return { bundle: { ok: false, reason: "certificate annotation is not a PEM certificate" }, notes };
    }
  }
  try {
    return {
      bundle: {
        ok: true,
        value: bundleFromJSON({ mediaType: BUNDLE_V01, verificationMaterial, ...content }),
      },
      notes,
    };
  } catch (err) {
    return { bundle: { ok: false, reason: `cannot form a bundle: ${clip(String(err), 80)}` }, notes };
  }
}

/** Verifies every layer of a classic cosign `.sig` manifest. */
export function verifyCosignSignature(art: SignatureArtifact, ctx: TrustContext): SignatureVerification[] {
  const layers = art.blobs.filter((b) => COSIGN_ANNOTATIONS.signature in b.annotations);
  return eachBlob(art, layers, "cosign signature manifest has no layer with a signature annotation", (blob) =>
    verifyLayer(blob.data, blob.annotations, ctx),
  );
}

function verifyLayer(data: string, annotations: Record<string, string>, ctx: TrustContext): BlobResult {
  const payload = decodeBase64(data);
  if (!payload.ok) return { status: "invalid", detail: "signature payload is not base64" };
  const json = parseJson(payload.value);
  if (!json.ok || !isObject(json.value))
    return { status: "invalid", detail: "simple-signing payload is not JSON" };
  const named = normalizeDigest(at(json.value, "critical", "image", "docker-manifest-digest"));
  if (!named) return { status: "invalid", detail: "payload names no docker-manifest-digest" };
  const base = { signedDigest: named };
  if (!ctx.digests.has(named)) {
    return {
      ...base,
      status: "invalid",
      detail: `payload names ${named}, not this image (${describeDigests(ctx.digests)})`,
    };
  }
  const type = str(json.value, "critical", "type");
  if (!type || !SIMPLE_SIGNING_TYPES.has(type)) {
    return {
      ...base,
      status: "invalid",
      detail: `payload type is ${clip(String(type), 60)}, not a cosign image signature`,
    };
  }
  const signature = decodeBase64(annotations[COSIGN_ANNOTATIONS.signature]);
  if (!signature.ok || signature.value.length === 0)
    return { ...base, status: "invalid", detail: "signature annotation is not base64" };
  const digest = createHash("sha256").update(payload.value).digest("base64");
  const { bundle, notes } = classicBundle(
    {
      messageSignature: {
        messageDigest: { algorithm: "SHA2_256", digest },
        signature: signature.value.toString("base64"),
      },
    },
    annotations,
  );
  if (!bundle.ok) return { ...base, status: "invalid", detail: bundle.reason };
  const outcome = verifyBundle(bundle.value, { artifact: payload.value }, ctx.sigstore);
  const detail = notes.length > 0 ? `${outcome.detail} (${notes.join("; ")})` : outcome.detail;
  return { ...base, ...outcome, detail };
}
