/**
 * Trusted keys from the policy, as Node KeyObjects, and signature checks over message bytes the
 * way cosign makes them: ECDSA (P-256/P-384, ASN.1 DER) and RSA PKCS#1 v1.5 over SHA-256, and
 * Ed25519 over the message itself (sigstore/sigstore pkg/signature: LoadVerifier picks these).
 */
import type { Buffer } from "node:buffer";
import { createHash, createPublicKey, type KeyObject, verify, X509Certificate } from "node:crypto";

/** A policy key ready to verify with. */
export interface TrustedKey {
  name: string;
  key: KeyObject;
  /** The certificate, when the policy gave one instead of a bare public key. */
  certificate?: X509Certificate;
}

/** Parses a PEM public key or certificate; null when it is neither. */
export function publicKeyFromPem(pem: string): { key: KeyObject; certificate?: X509Certificate } | null {
  try {
    if (pem.includes("BEGIN CERTIFICATE")) {
      const certificate = new X509Certificate(pem);
      return { key: certificate.publicKey, certificate };
    }
    const key = createPublicKey(pem);
    return key.type === "public" ? { key } : null;
  } catch {
    return null;
  }
}

/** The policy's keys that parse; the rest are reported by name so a typo does not go unnoticed. */
export function loadTrustedKeys(keys: readonly { name: string; pem: string }[]): {
  keys: TrustedKey[];
  unusable: string[];
} {
  const out: TrustedKey[] = [];
  const unusable: string[] = [];
  for (const k of keys) {
    const parsed = publicKeyFromPem(k.pem);
    if (parsed) out.push({ name: k.name, ...parsed });
    else unusable.push(k.name);
  }
  return { keys: out, unusable };
}

/** Verifies a cosign-style signature over `message` with `key` (never throws). */
export function verifyMessage(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    const hash = key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";
    return verify(hash, message, key, signature);
  } catch {
    return false;
  }
}

/** SHA-256 of the key's SubjectPublicKeyInfo, hex: how Rekor names a log by its key. */
export function spkiSha256(key: KeyObject): Buffer {
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest();
}

/** True when two keys are the same public key. */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  try {
    return a.equals(b);
  } catch {
    return false;
  }
}
