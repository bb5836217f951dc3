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

type ParsedKey = { key: KeyObject; certificate?: X509Certificate } | null;

/**
 * PEMs already parsed, by their text: a check compiles the policy's keys every time (about 0.1 ms
 * a key), and KeyObjects and certificates are immutable, so one parse per text is as good as many.
 * Bounded, since signatures carry PEMs too (hostile input): policies name a handful of keys, so
 * 256 texts of at most 16 KiB (a certificate with a long chain of extensions is a few KiB) hold
 * them all in at most 4 MiB; past that the oldest go, and a longer text is parsed every time.
 */
const parsedPems = new Map<string, ParsedKey>();
const PARSED_PEMS = { entries: 256, textChars: 16 * 1024 };

/** Parses a PEM public key or certificate; null when it is neither. */
export function publicKeyFromPem(pem: string): ParsedKey {
  if (pem.length > PARSED_PEMS.textChars) return parsePem(pem);
  const held = parsedPems.get(pem);
  if (held !== undefined) return held;
  const parsed = parsePem(pem);
  if (parsedPems.size >= PARSED_PEMS.entries) parsedPems.delete(parsedPems.keys().next().value!);
  parsedPems.set(pem, parsed);
  return parsed;
}

function parsePem(pem: string): ParsedKey {
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
