/**
 * Notation (Notary Project) signatures: an OCI referrer with artifactType
 * `application/vnd.cncf.notary.signature` whose layer is a JWS (`application/jose+json`) or COSE
 * envelope (https://github.com/notaryproject/specifications/blob/main/specs/signature-envelope-jws.md).
 * The JWS is checked with its own `x5c` leaf, its chain linked, and its payload's
 * `targetArtifact.digest` compared with the image. It counts as verified only when a certificate
 * of that chain is in the policy's trust store (or issued by one, or carries a trusted key);
 * otherwise it is reported present but unverified. Notation trust policies (registry scopes,
 * trusted identities) are not modelled: the trust store applies to every image.
 */
import { Buffer } from "node:buffer";
import { constants, type KeyObject, verify, X509Certificate } from "node:crypto";
import type { FetchedBlob, SignatureArtifact } from "../facts/model.js";
import type { TrustContext } from "./context.js";
import { describeDigests, normalizeDigest } from "./digests.js";
import { sameKey } from "./keys.js";
import {
  arr,
  at,
  clip,
  decodeBase64,
  decodeBase64Url,
  isObject,
  parseBase64Json,
  parseJson,
  str,
} from "./parse.js";
import { type BlobResult, eachBlob } from "./results.js";
import type { SignatureVerification } from "./types.js";

const JWS_MEDIA_TYPE = "application/jose+json";
const COSE_MEDIA_TYPE = "application/cose";
const PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json";

/** Critical headers this verifier understands (signature-specification.md, "Signature Envelope"). */
const UNDERSTOOD_CRIT = new Set([
  "io.cncf.notary.signingScheme",
  "io.cncf.notary.expiry",
  "io.cncf.notary.authenticSigningTime",
]);

/** JWS algorithms Notation allows (signature-specification.md, "Algorithm Selection"). */
const ALGORITHMS: Record<string, { hash: string; kind: "pss" | "ecdsa" }> = {
  PS256: { hash: "sha256", kind: "pss" },
  PS384: { hash: "sha384", kind: "pss" },
  PS512: { hash: "sha512", kind: "pss" },
  ES256: { hash: "sha256", kind: "ecdsa" },
  ES384: { hash: "sha384", kind: "ecdsa" },
  ES512: { hash: "sha512", kind: "ecdsa" },
};

const HASH_BYTES: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

function verifyJwsSignature(alg: string, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  const a = ALGORITHMS[alg];
  if (!a) return false;
  try {
    if (a.kind === "pss") {
      // RFC 7518 section 3.5: the salt is as long as the hash.
      const saltLength = HASH_BYTES[a.hash];
      return verify(
        a.hash,
        signingInput,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
        signature,
      );
    }
    return verify(a.hash, signingInput, { key, dsaEncoding: "ieee-p1363" }, signature);
  } catch {
    return false;
  }
}

/** True when `issuer` issued and signed `cert` (never throws). */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function commonName(cert: X509Certificate): string {
  const cn = cert.subject.split("\n").find((l) => l.startsWith("CN="));
  return cn ? cn.slice(3) : cert.subject.replace(/\n/g, ", ");
}

/** The policy certificate or key that anchors this chain, if any. */
function trustAnchor(chain: X509Certificate[], ctx: TrustContext): string | null {
  for (const cert of chain) {
    for (const trusted of ctx.notationCerts) {
      if (cert.raw.equals(trusted.raw)) return `trusted certificate ${commonName(trusted)}`;
    }
  }
  const top = chain[chain.length - 1];
  if (top) {
    for (const trusted of ctx.notationCerts) {
      if (issuedBy(top, trusted)) return `certificate issued by ${commonName(trusted)}`;
    }
  }
  const leaf = chain[0];
  if (leaf) {
    const key = ctx.sigstore.keys.find((k) => sameKey(k.key, leaf.publicKey));
    if (key) return `trusted key "${key.name}"`;
  }
  return null;
}

function verifyJws(bytes: Buffer, ctx: TrustContext): BlobResult {
  const parsed = parseJson(bytes);
  if (!parsed.ok || !isObject(parsed.value)) return { status: "invalid", detail: "JWS envelope is not JSON" };
  const env = parsed.value;
  const protectedText = str(env, "protected");
  const payloadText = str(env, "payload");
  const signature = decodeBase64Url(env.signature);
  const protectedBytes = decodeBase64Url(protectedText);
  const payloadBytes = decodeBase64Url(payloadText);
  if (!protectedText || !payloadText || !signature.ok || !protectedBytes.ok || !payloadBytes.ok) {
    return { status: "invalid", detail: "JWS envelope lacks its protected header, payload or signature" };
  }
  const header = parseJson(protectedBytes.value);
  const payload = parseJson(payloadBytes.value);
  if (!header.ok || !isObject(header.value))
    return { status: "invalid", detail: "JWS protected header is not JSON" };
  if (!payload.ok) return { status: "invalid", detail: "JWS payload is not JSON" };

  const named = normalizeDigest(at(payload.value, "targetArtifact", "digest"));
  if (!named) return { status: "invalid", detail: "JWS payload names no targetArtifact digest" };
  const base = { signedDigest: named };
  if (!ctx.digests.has(named)) {
    return {
      ...base,
      status: "invalid",
      detail: `JWS payload names ${named}, not this image (${describeDigests(ctx.digests)})`,
    };
  }
  const alg = str(header.value, "alg") ?? "";
  if (!ALGORITHMS[alg])
    return { ...base, status: "invalid", detail: `JWS algorithm ${clip(alg, 20)} is not allowed` };
  const cty = str(header.value, "cty");
  if (cty !== PAYLOAD_TYPE)
    return {
      ...base,
      status: "invalid",
      detail: `JWS content type ${clip(String(cty), 60)} is not Notation's`,
    };

  const chain: X509Certificate[] = [];
  for (const c of arr(env, "header", "x5c")) {
    const der = decodeBase64(c);
    if (!der.ok) return { ...base, status: "invalid", detail: "x5c certificate is not base64" };
    try {
      chain.push(new X509Certificate(der.value));
    } catch {
      return { ...base, status: "invalid", detail: "x5c certificate cannot be parsed" };
    }
  }
  const leaf = chain[0];
  if (!leaf) return { ...base, status: "invalid", detail: "JWS carries no x5c certificate" };
  const signingInput = Buffer.from(`${protectedText}.${payloadText}`, "ascii");
  if (!verifyJwsSignature(alg, leaf.publicKey, signingInput, signature.value)) {
    return {
      ...base,
      status: "invalid",
      detail: `JWS signature does not verify with its x5c certificate (${commonName(leaf)})`,
    };
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const [cert, issuer] = [chain[i]!, chain[i + 1]!];
    if (!issuedBy(cert, issuer)) {
      return { ...base, status: "invalid", detail: `x5c chain is broken at certificate ${i + 1}` };
    }
  }

  // Critical headers we do not understand (e.g. a verification plugin) mean we cannot verify it.
  const crit = arr(header.value, "crit");
  const unknownCrit = crit.find((c) => typeof c !== "string" || !UNDERSTOOD_CRIT.has(c));
  if (unknownCrit !== undefined) {
    return {
      ...base,
      status: "unverified",
      detail: `JWS needs ${clip(String(unknownCrit), 60)}, which is not supported here`,
    };
  }
  const scheme = str(header.value, "io.cncf.notary.signingScheme");
  if (scheme !== "notary.x509" && scheme !== "notary.x509.signingAuthority") {
    return { ...base, status: "invalid", detail: `unknown signing scheme ${clip(String(scheme), 40)}` };
  }
  const expiry = str(header.value, "io.cncf.notary.expiry");
  if (expiry && !(Date.parse(expiry) > ctx.now.getTime())) {
    return { ...base, status: "unverified", detail: `signature expired at ${clip(expiry, 40)}` };
  }
  const now = ctx.now.getTime();
  const stale = chain.find((c) => Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now);
  if (stale) {
    return {
      ...base,
      status: "unverified",
      detail: `certificate ${commonName(stale)} is not valid now (${stale.validTo})`,
    };
  }

  const anchor = trustAnchor(chain, ctx);
  if (!anchor) {
    return {
      ...base,
      status: "unverified",
      detail: `JWS verifies with its certificate ${commonName(leaf)}, which is not in the policy's Notation trust store`,
    };
  }
  return {
    ...base,
    status: "verified",
    signer: commonName(leaf),
    detail: `Notation JWS signed by ${commonName(leaf)}, anchored by ${anchor}`,
  };
}

function verifyEnvelope(blob: FetchedBlob, ctx: TrustContext): BlobResult {
  const media = blob.mediaType.split(";")[0]?.trim();
  if (media === COSE_MEDIA_TYPE) {
    return { status: "unverified", detail: "COSE Notation envelopes are found but not verified here" };
  }
  if (media !== JWS_MEDIA_TYPE) {
    // Some tools store the envelope with a generic type; accept anything that parses as a JWS.
    const probe = parseBase64Json(blob.data);
    if (!probe.ok || !isObject(probe.value) || !("protected" in probe.value)) {
      return { status: "invalid", detail: `Notation envelope of unknown type ${clip(blob.mediaType, 60)}` };
    }
  }
  const bytes = decodeBase64(blob.data);
  if (!bytes.ok) return { status: "invalid", detail: "Notation envelope is not base64" };
  return verifyJws(bytes.value, ctx);
}

/** Verifies each envelope of a Notation signature referrer. */
export function verifyNotationArtifact(art: SignatureArtifact, ctx: TrustContext): SignatureVerification[] {
  return eachBlob(art, art.blobs, "Notation referrer has no envelope", (blob) => verifyEnvelope(blob, ctx));
}
