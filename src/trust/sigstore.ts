/**
 * Offline Sigstore verification with @sigstore/verify: a bundle (or a classic cosign signature
 * converted into one) is checked against the trusted root and the policy's keys and identities.
 * @sigstore/verify checks the signature, the certificate chain to Fulcio at the log's integrated
 * time, SCTs, Rekor SETs / inclusion proofs and TSA timestamps; it does not use the wall clock,
 * and it does not look at what was signed: comparing the signed digest with the image is done by
 * the callers.
 */
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject } from "node:crypto";
import type { Bundle } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import {
  type SignedEntity,
  type Signer,
  type TrustMaterial as SigstoreTrustMaterial,
  toSignedEntity,
  toTrustMaterial,
  Verifier,
} from "@sigstore/verify";
import { publicKeyFromPem, sameKey, spkiSha256, type TrustedKey, verifyMessage } from "./keys.js";
import { clip, isObject, parseJson } from "./parse.js";
import { verifyDigest } from "./prehashed.js";
import type { SignatureStatus } from "./types.js";

/** What one signature check concluded. */
export interface Outcome {
  status: SignatureStatus;
  signer?: string;
  detail: string;
}

/** A trusted keyless identity, compiled. */
export interface IdentityMatcher {
  issuer: string;
  subject: string;
  matchIssuer: (issuer: string) => boolean;
  matchSubject: (san: string) => boolean;
}

/** The Sigstore half of the compiled trust material. */
export interface SigstoreTrust {
  material: SigstoreTrustMaterial;
  /** Why the trusted root could not be used, when it could not. */
  rootProblem?: string;
  keys: TrustedKey[];
  keyless: IdentityMatcher[];
}

const BEGINNING = new Date(0);
const END_OF_TIME = new Date(8_640_000_000_000_000);

/** A policy pattern: a regex when wrapped in `^...$`, else an exact string. */
function matcher(pattern: string): ((value: string) => boolean) | null {
  if (pattern.length >= 2 && pattern.startsWith("^") && pattern.endsWith("$")) {
    try {
      const re = new RegExp(pattern);
      return (value) => re.test(value);
    } catch {
      return null;
    }
  }
  return (value) => value === pattern;
}

/** Compiles the policy's keyless identities; bad regexes are returned as problems. */
export function compileIdentities(identities: readonly { issuer: string; subject: string }[]): {
  matchers: IdentityMatcher[];
  problems: string[];
} {
  const matchers: IdentityMatcher[] = [];
  const problems: string[] = [];
  for (const id of identities) {
    const matchIssuer = matcher(id.issuer);
    const matchSubject = matcher(id.subject);
    if (matchIssuer && matchSubject) matchers.push({ ...id, matchIssuer, matchSubject });
    else problems.push(`keyless identity ${clip(id.subject, 60)} has an invalid regular expression`);
  }
  return { matchers, problems };
}

type CompiledRoot = { material: SigstoreTrustMaterial; rootProblem?: string };

/**
 * Parsed roots by identity: parsing certificates and keys costs milliseconds, and the same root
 * object (the shipped one, or the policy's) serves every image checked in a process.
 */
const compiledRoots = new WeakMap<object, CompiledRoot>();

function compileRoot(trustedRoot: unknown): CompiledRoot {
  if (!isObject(trustedRoot)) {
    const why =
      typeof trustedRoot === "string" ? clip(trustedRoot, 120) : "trusted root unusable: not a JSON object";
    return { material: toTrustMaterial(TrustedRoot.fromJSON({})), rootProblem: why };
  }
  const cached = compiledRoots.get(trustedRoot);
  if (cached) return cached;
  let compiled: CompiledRoot;
  try {
    compiled = { material: toTrustMaterial(TrustedRoot.fromJSON(trustedRoot)) };
  } catch (err) {
    const rootProblem = `trusted root unusable: ${clip(err instanceof Error ? err.message : String(err), 80)}`;
    compiled = { material: toTrustMaterial(TrustedRoot.fromJSON({})), rootProblem };
  }
  compiledRoots.set(trustedRoot, compiled);
  return compiled;
}

/**
 * Builds @sigstore/verify trust material from a trusted_root.json (parsed) plus extra Rekor keys
 * (a log is named by the SHA-256 of its key, as Rekor does). A broken root leaves an empty one.
 */
export function compileSigstoreMaterial(
  trustedRoot: unknown,
  rekorKeys: readonly TrustedKey[],
): CompiledRoot {
  const { material, rootProblem } = compileRoot(trustedRoot);
  const extra = rekorKeys.map((k) => ({
    logID: spkiSha256(k.key),
    baseURL: k.name,
    publicKey: k.key,
    validFor: { start: BEGINNING, end: END_OF_TIME },
  }));
  const withExtra = { ...material, tlogs: [...material.tlogs, ...extra] };
  return rootProblem ? { material: withExtra, rootProblem } : { material: withExtra };
}

/** The code of a @sigstore/verify error, if it is one. */
function errorCode(err: unknown): string {
  if (isObject(err) && typeof err.code === "string") return err.code;
  return "ERROR";
}

function errorText(err: unknown): string {
  const base = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return clip(`${base}${cause}`, 140);
}

/** What was signed: the artifact bytes, or only their digest (then ECDSA/RSA are checked over it). */
export type SignedContent = { artifact?: Buffer; digest?: { bytes: Buffer; hash: string } };

/** Replaces the entity's signature check (message signatures are checked here, see verifyBundle). */
function withVerifier(
  entity: SignedEntity,
  check: (key: KeyObject, signature: Buffer) => boolean,
): SignedEntity {
  const original = entity.signature;
  return {
    ...entity,
    signature: {
      signature: original.signature,
      compareSignature: (s) => original.compareSignature(s),
      compareDigest: (d) => original.compareDigest(d),
      verifySignature: (key) => check(key, original.signature),
    },
  };
}

function safeVerifySignature(entity: SignedEntity, key: KeyObject): boolean {
  try {
    return entity.signature.verifySignature(key);
  } catch {
    return false;
  }
}

/**
 * Verifies a parsed bundle against the trust material. The signed content must already have
 * been matched to the image by the caller.
 */
export function verifyBundle(bundle: Bundle, content: SignedContent, trust: SigstoreTrust): Outcome {
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle, content.artifact);
  } catch (err) {
    return { status: "invalid", detail: `bundle unusable: ${errorText(err)}` };
  }
  if (bundle.content.$case === "messageSignature") {
    // @sigstore/verify hashes the artifact with the digest's algorithm for every key type, which
    // Ed25519 (signing the message itself, as cosign does) cannot pass; without the artifact,
    // ECDSA and RSA are checked over the digest.
    const { artifact, digest } = content;
    if (artifact) entity = withVerifier(entity, (key, sig) => verifyMessage(key, artifact, sig));
    else if (digest)
      entity = withVerifier(entity, (key, sig) => verifyDigest(key, digest.bytes, digest.hash, sig));
    else return { status: "unverified", detail: "message signature without the signed bytes" };
  }
  if (entity.key.$case === "certificate") return verifyKeyless(entity, trust);
  // The key hint and DSSE key ids say which key the signer claims; they let a broken signature
  // by a trusted key be told apart from a stranger's.
  const named = [entity.key.hint];
  if (bundle.content.$case === "dsseEnvelope")
    named.push(...bundle.content.dsseEnvelope.signatures.map((s) => s.keyid));
  const outcome = verifyWithKeys(
    entity,
    trust,
    named.filter((n) => n.length > 0),
  );
  const digestOnly = bundle.content.$case === "messageSignature" && !content.artifact;
  if (digestOnly && outcome.status !== "verified" && trust.keys.some((k) => isEdwards(k.key))) {
    return {
      status: "unverified",
      detail:
        "message signature over the manifest: an Ed25519 key signs the bytes themselves, which the facts do not hold",
    };
  }
  return outcome;
}

function isEdwards(key: KeyObject): boolean {
  return key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448";
}

function verifyKeyless(entity: SignedEntity, trust: SigstoreTrust): Outcome {
  if (entity.key.$case !== "certificate") throw new TypeError("not a certificate");
  let certKey: KeyObject;
  try {
    certKey = createPublicKey({ key: entity.key.certificate.publicKey, format: "der", type: "spki" });
  } catch {
    return { status: "invalid", detail: "the signing certificate's public key cannot be read" };
  }
  if (!safeVerifySignature(entity, certKey)) {
    return { status: "invalid", detail: "signature does not verify with the certificate it carries" };
  }
  // A certificate around a key the policy trusts (cosign sign --key with --certificate) is that key's signature.
  const pinned = trust.keys.find((k) => sameKey(k.key, certKey));
  if (pinned) {
    return {
      status: "verified",
      signer: pinned.name,
      detail: `signature verifies with trusted key "${pinned.name}" (in a certificate)`,
    };
  }
  const claimed = describeCertificate(entity);
  if (trust.keyless.length === 0) {
    return {
      status: "untrusted",
      detail: `keyless signature by ${claimed}; the policy trusts no keyless identity`,
    };
  }
  let signer: Signer;
  try {
    signer = new Verifier(trust.material).verify(entity);
  } catch (err) {
    const code = errorCode(err);
    const root = trust.rootProblem ? ` (${trust.rootProblem})` : "";
    // The content and signature are consistent (checked above); a log body for other content is tampering.
    const status: SignatureStatus = code === "TLOG_BODY_ERROR" ? "invalid" : "untrusted";
    return {
      status,
      detail: `keyless signature by ${claimed} does not verify against the trusted root: ${code}: ${errorText(err)}${root}`,
    };
  }
  const san = signer.identity?.subjectAlternativeName ?? "";
  const issuer = signer.identity?.extensions?.issuer ?? "";
  const who = `${san} (${issuer})`;
  const match = trust.keyless.find((m) => m.matchIssuer(issuer) && m.matchSubject(san));
  if (!match) return { status: "untrusted", detail: `signed by ${who}, which is not a trusted identity` };
  return {
    status: "verified",
    signer: who,
    detail: `keyless signature by ${who}; certificate chain and signing time verified against the trusted root`,
  };
}

function describeCertificate(entity: SignedEntity): string {
  if (entity.key.$case !== "certificate") return "a key";
  try {
    return entity.key.certificate.subjectAltName ?? "an unnamed certificate";
  } catch {
    return "an unreadable certificate";
  }
}

function verifyWithKeys(entity: SignedEntity, trust: SigstoreTrust, named: string[]): Outcome {
  const match = trust.keys.find((k) => safeVerifySignature(entity, k.key));
  if (!match) return classifyUnknownKey(entity, trust.keys, named);
  // Only logs the material knows can be checked; others are noted, not failed: the trusted key is
  // what makes the signature trusted, the log adds transparency.
  const known = entity.tlogEntries.filter((e) =>
    trust.material.tlogs.some((t) => t.logID.equals(e.logId.keyId)),
  );
  const skipped = entity.tlogEntries.length - known.length;
  const keyed = {
    ...trust.material,
    publicKey: () => ({ publicKey: match.key, validFor: () => true }),
  };
  try {
    new Verifier(keyed, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify({
      ...entity,
      tlogEntries: known,
      // A policy key has no validity window, so timestamps add nothing; TSA ones could only fail.
      timestamps: entity.timestamps.filter(
        (t) => t.$case === "transparency-log" && known.includes(t.tlogEntry as (typeof known)[number]),
      ),
    });
  } catch (err) {
    return {
      status: "invalid",
      detail: `signed by trusted key "${match.name}" but its transparency log entry is broken: ${errorCode(err)}: ${errorText(err)}`,
    };
  }
  const log =
    known.length > 0
      ? `; ${known.length} transparency log entr${known.length === 1 ? "y" : "ies"} verified`
      : skipped > 0
        ? "; transparency log entry not checked: its log is not in the trusted material"
        : "; no transparency log entry";
  return {
    status: "verified",
    signer: match.name,
    detail: `signature verifies with trusted key "${match.name}"${log}`,
  };
}

/** Names a key may go by in a bundle hint or DSSE keyid: its SPKI SHA-256, base64 or hex. */
export function keyFingerprints(key: KeyObject): Set<string> {
  const d = spkiSha256(key);
  const b64 = d.toString("base64");
  return new Set([
    b64,
    b64.replace(/=+$/, ""),
    d.toString("base64url"),
    d.toString("hex"),
    `SHA256:${b64.replace(/=+$/, "")}`,
  ]);
}

/**
 * No trusted key verifies the signature: another key signed it, or the content was changed.
 * If the bundle names a trusted key (hint or keyid), or a log entry records a key that does
 * not verify it either, the content no longer matches its signature (invalid); a recorded key
 * that verifies it is a stranger's signature (untrusted). With neither, the two cases cannot be
 * told apart, and untrusted is the safer reading for a publisher's key the policy lacks.
 */
function classifyUnknownKey(entity: SignedEntity, keys: readonly TrustedKey[], named: string[]): Outcome {
  const claimed = keys.find((k) => {
    const prints = keyFingerprints(k.key);
    return named.some((n) => prints.has(n));
  });
  if (claimed) {
    return {
      status: "invalid",
      detail: `signature does not verify with trusted key "${claimed.name}", which it names`,
    };
  }
  const recorded = entity.tlogEntries.flatMap((e) => keysInLogBody(e.canonicalizedBody));
  const none =
    keys.length === 0
      ? "the policy trusts no key"
      : `it verifies with none of the ${keys.length} trusted key(s)`;
  if (recorded.length === 0) return { status: "untrusted", detail: `signed by an unknown key: ${none}` };
  if (recorded.some((k) => safeVerifySignature(entity, k))) {
    return { status: "untrusted", detail: `signed by a key the policy does not trust: ${none}` };
  }
  return {
    status: "invalid",
    detail:
      "signature does not verify with the key its transparency log entry records: the signed content was changed",
  };
}

/** Public keys and certificates a Rekor entry body records (hashedrekord, intoto, dsse kinds). */
export function keysInLogBody(body: Buffer): KeyObject[] {
  const parsed = parseJson(body);
  if (!parsed.ok) return [];
  const out: KeyObject[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 12 || out.length > 8) return;
    if (typeof v === "string" && v.length < 16384 && /^LS0tLS1CRUdJTi/.test(v)) {
      const key = publicKeyFromPem(Buffer.from(v, "base64").toString("utf8"));
      if (key) out.push(key.key);
    } else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (isObject(v)) for (const x of Object.values(v)) walk(x, depth + 1);
  };
  walk(parsed.value, 0);
  return out;
}
