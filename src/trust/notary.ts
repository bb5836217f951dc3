/**
 * Docker Content Trust (Notary v1): the tag's target hash, checked through the repository's TUF
 * metadata (https://theupdateframework.github.io/specification/v1.0.0/ section 5; notary's
 * tuf/signed package). root is self-signed by its threshold; timestamp, snapshot and targets are
 * signed by the keys root names for them; each file is pinned by the hash and length its parent
 * records; nothing may be expired; and the tag's target sha256 must be the image digest. Delegated
 * roles (targets/releases) are not fetched.
 *
 * A self-signed root proves nothing about who made it: the docker client trusts it on first use,
 * so whoever answered for the notary URL the first time could have made it. Here a chain that
 * verifies is `verified` only when the policy pins a key that signed root.json, by its key id on
 * the notary entry (`rootKeyId`) or by its public key among `trust.keys`; otherwise `unverified`.
 */
import { Buffer } from "node:buffer";
import { constants, createHash, createPublicKey, type KeyObject, verify, X509Certificate } from "node:crypto";
import { CodedError } from "../errors.js";
import type { ImageFacts, NotaryFacts } from "../facts/model.js";
import { CanonicalJsonError, olpcCanonical } from "./canonical-json.js";
import type { TrustContext } from "./context.js";
import { describeDigests } from "./digests.js";
import { sameKey, type TrustedKey } from "./keys.js";
import { arr, at, clip, decodeBase64, isObject, type JsonObject, parseJson, str } from "./parse.js";
import type { SignatureVerification } from "./types.js";

/** Why the TUF chain could not be verified: a role file is missing, or a check failed. */
type TufErrorCode = "TUF_INCOMPLETE" | "TUF_INVALID";

/** Raised inside this module for a check that fails: TUF_INCOMPLETE is `unverified`, TUF_INVALID `invalid`. */
class TufError extends CodedError<TufErrorCode> {}

/** A role file as served: its bytes and parsed content. */
interface RoleFile {
  bytes: Buffer;
  signed: JsonObject;
  signatures: unknown[];
}

type RoleName = "root" | "timestamp" | "snapshot" | "targets";

const TYPES: Record<RoleName, string> = {
  root: "Root",
  timestamp: "Timestamp",
  snapshot: "Snapshot",
  targets: "Targets",
};

function readRole(facts: NotaryFacts, role: RoleName): RoleFile | null {
  const text = facts[role];
  if (text === undefined) return null;
  const bytes = decodeBase64(text);
  if (!bytes.ok) throw new TufError("TUF_INVALID", `${role}.json is not base64`);
  const json = parseJson(bytes.value);
  if (!json.ok || !isObject(json.value) || !isObject(json.value.signed)) {
    throw new TufError("TUF_INVALID", `${role}.json is not TUF metadata`);
  }
  if (str(json.value.signed, "_type") !== TYPES[role])
    throw new TufError("TUF_INVALID", `${role}.json has the wrong _type`);
  return { bytes: bytes.value, signed: json.value.signed, signatures: arr(json.value, "signatures") };
}

/** A public key from root.json (notary tuf/data/keys.go key types). */
function keyFromTuf(key: unknown, gun: string, now: Date): KeyObject {
  const type = str(key, "keytype");
  const material = decodeBase64(str(key, "keyval", "public"));
  if (!type || !material.ok) throw new TufError("TUF_INVALID", "root.json has a key without public material");
  try {
    switch (type) {
      case "ed25519":
        return createPublicKey({
          key: { kty: "OKP", crv: "Ed25519", x: material.value.toString("base64url") },
          format: "jwk",
        });
      case "ecdsa":
      case "rsa":
        return createPublicKey({ key: material.value, format: "der", type: "spki" });
      case "ecdsa-x509":
      case "rsa-x509": {
        const cert = new X509Certificate(material.value);
        if (Date.parse(cert.validTo) < now.getTime())
          throw new TufError("TUF_INVALID", "a root.json certificate has expired");
        // notary requires root certificates to name the repository (GUN) as their common name.
        const cn = cert.subject.split("\n").find((l) => l.startsWith("CN="));
        if (cn !== undefined && cn.slice(3) !== gun)
          throw new TufError("TUF_INVALID", `a root.json certificate names ${clip(cn, 60)}, not ${gun}`);
        return cert.publicKey;
      }
      default:
        throw new TufError("TUF_INVALID", `root.json has a key of unknown type ${clip(type, 20)}`);
    }
  } catch (err) {
    if (err instanceof TufError) throw err;
    throw new TufError("TUF_INVALID", `root.json has an unreadable ${clip(type, 20)} key`);
  }
}

/** Key id as notary computes it: SHA-256 of the canonical JSON of the public key. */
function keyId(key: unknown): string {
  const canonical = olpcCanonical({
    keytype: str(key, "keytype") ?? "",
    keyval: { private: null, public: str(key, "keyval", "public") ?? "" },
  });
  return createHash("sha256").update(canonical).digest("hex");
}

function verifySig(method: string, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    switch (method) {
      case "ecdsa":
        // notary's ECDSA signatures are r||s over SHA-256 (tuf/signed/verifiers.go).
        return verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
      case "rsapss":
        return verify("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
      case "rsapkcs1v15":
        return verify("sha256", data, key, sig);
      case "eddsa":
        return verify(null, data, key, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** The keys root.json assigns to `role`, with its threshold. */
function roleKeys(
  root: RoleFile,
  keys: Map<string, KeyObject>,
  role: RoleName,
): { ids: string[]; threshold: number } {
  const ids = arr(root.signed, "roles", role, "keyids").filter((k): k is string => typeof k === "string");
  const threshold = at(root.signed, "roles", role, "threshold");
  if (!Number.isSafeInteger(threshold) || (threshold as number) < 1)
    throw new TufError("TUF_INVALID", `root.json gives ${role} no threshold`);
  if (ids.some((id) => !keys.has(id)))
    throw new TufError("TUF_INVALID", `root.json names an unknown key for ${role}`);
  return { ids, threshold: threshold as number };
}

/**
 * Checks that `file` carries at least `threshold` valid signatures by distinct keys of `role`;
 * returns the ids of the keys whose signatures verified.
 */
function checkSignatures(
  file: RoleFile,
  role: RoleName,
  root: RoleFile,
  keys: Map<string, KeyObject>,
): Set<string> {
  const { ids, threshold } = roleKeys(root, keys, role);
  let canonical: Buffer;
  try {
    canonical = Buffer.from(olpcCanonical(file.signed), "utf8");
  } catch (err) {
    if (err instanceof CanonicalJsonError)
      throw new TufError("TUF_INVALID", `${role}.json cannot be canonicalized`);
    throw err;
  }
  const good = new Set<string>();
  for (const s of file.signatures) {
    const id = str(s, "keyid");
    const sig = decodeBase64(str(s, "sig"));
    const key = id && ids.includes(id) ? keys.get(id) : undefined;
    if (id && key && sig.ok && verifySig(str(s, "method") ?? "", key, canonical, sig.value)) good.add(id);
  }
  if (good.size < threshold) {
    throw new TufError(
      "TUF_INVALID",
      `${role}.json has ${good.size} valid signature(s) of the ${threshold} its role needs`,
    );
  }
  return good;
}

function checkExpiry(file: RoleFile, role: RoleName, now: Date): void {
  const expires = Date.parse(str(file.signed, "expires") ?? "");
  if (!(expires > now.getTime()))
    throw new TufError("TUF_INVALID", `${role}.json expired at ${clip(String(file.signed.expires), 40)}`);
}

/** Checks `file` against the length and hashes its parent recorded for it. */
function checkMeta(meta: unknown, file: RoleFile, role: RoleName, parent: RoleName): void {
  if (!isObject(meta)) throw new TufError("TUF_INVALID", `${parent}.json does not record ${role}.json`);
  if (at(meta, "length") !== file.bytes.length)
    throw new TufError("TUF_INVALID", `${role}.json length differs from what ${parent}.json records`);
  const hashes = at(meta, "hashes");
  let checked = 0;
  for (const alg of ["sha256", "sha512"]) {
    const want = str(hashes, alg);
    if (want === undefined) continue;
    checked++;
    if (createHash(alg).update(file.bytes).digest("base64") !== want) {
      throw new TufError("TUF_INVALID", `${role}.json ${alg} differs from what ${parent}.json records`);
    }
  }
  if (checked === 0)
    throw new TufError("TUF_INVALID", `${parent}.json records no usable hash for ${role}.json`);
}

/** What a TUF chain that verifies says. */
interface Chain {
  /** The tag's target, or null when targets.json has none for it. */
  digest: string | null;
  /** The keys whose signatures on root.json verified, by key id. */
  rootSigners: Map<string, KeyObject>;
  delegated: boolean;
}

/** Runs the whole TUF chain; returns what it says or throws TufError. */
function verifyChain(n: NotaryFacts, tag: string, now: Date): Chain {
  const root = readRole(n, "root");
  const timestamp = readRole(n, "timestamp");
  const snapshot = readRole(n, "snapshot");
  const targets = readRole(n, "targets");
  if (!root || !timestamp || !snapshot || !targets)
    throw new TufError("TUF_INCOMPLETE", "TUF metadata incomplete");

  const keys = new Map<string, KeyObject>();
  const declared = at(root.signed, "keys");
  if (!isObject(declared)) throw new TufError("TUF_INVALID", "root.json lists no keys");
  for (const [id, key] of Object.entries(declared)) {
    if (keyId(key) !== id)
      throw new TufError("TUF_INVALID", `root.json key id ${clip(id, 16)} does not match its key`);
    keys.set(id, keyFromTuf(key, n.gun, now));
  }
  const rootSigners = new Map(
    [...checkSignatures(root, "root", root, keys)].map((id) => [id, keys.get(id)!]),
  );
  checkExpiry(root, "root", now);

  checkSignatures(timestamp, "timestamp", root, keys);
  checkExpiry(timestamp, "timestamp", now);
  checkMeta(at(timestamp.signed, "meta", "snapshot"), snapshot, "snapshot", "timestamp");

  checkSignatures(snapshot, "snapshot", root, keys);
  checkExpiry(snapshot, "snapshot", now);
  checkMeta(at(snapshot.signed, "meta", "targets"), targets, "targets", "snapshot");
  const rootMeta = at(snapshot.signed, "meta", "root");
  if (rootMeta !== undefined) checkMeta(rootMeta, root, "root", "snapshot");

  checkSignatures(targets, "targets", root, keys);
  checkExpiry(targets, "targets", now);

  const delegated = arr(targets.signed, "delegations", "roles").length > 0;
  const target = at(targets.signed, "targets", tag);
  if (target === undefined) return { digest: null, rootSigners, delegated };
  const sha256 = decodeBase64(str(target, "hashes", "sha256"));
  if (!sha256.ok || sha256.value.length !== 32)
    throw new TufError("TUF_INVALID", `target ${clip(tag, 40)} has no sha256`);
  return { digest: `sha256:${sha256.value.toString("hex")}`, rootSigners, delegated };
}

/** A notary server as the policy names it, with the root key id it pins, if any. */
type NotaryEntry = { registry: string; server: string; rootKeyId?: string };

/**
 * How the policy pins a key that signed root.json: by its key id on the notary entry, or by its
 * public key among the trusted keys (a root certificate's key, for notary's x509 root keys).
 * Null when it pins none of them.
 */
function rootPin(
  signers: Map<string, KeyObject>,
  entry: NotaryEntry | undefined,
  keys: readonly TrustedKey[],
): { signer: string; how: string } | null {
  for (const [id, key] of signers) {
    if (entry?.rootKeyId === id)
      return {
        signer: `notary root ${id.slice(0, 12)}`,
        how: `root key ${id.slice(0, 12)} pinned by the policy's rootKeyId`,
      };
    const trusted = keys.find((k) => sameKey(k.key, key));
    if (trusted)
      return {
        signer: trusted.name,
        how: `root key ${id.slice(0, 12)} is the policy's trusted key ${trusted.name}`,
      };
  }
  return null;
}

/** Verifies the DCT metadata in `facts.notary` (if any) for the reference's tag. */
export function verifyNotary(
  facts: Pick<ImageFacts, "notary" | "reference">,
  ctx: TrustContext,
): { signatures: SignatureVerification[]; notes: string[] } {
  const n = facts.notary;
  if (!n) return { signatures: [], notes: [] };
  const foundVia = `notary:${n.server}`;
  const result = (
    status: SignatureVerification["status"],
    detail: string,
    extra: Partial<SignatureVerification> = {},
  ) => ({
    signatures: [{ kind: "notary-v1" as const, foundVia, status, detail, ...extra }],
    notes: [],
  });
  // Metadata counts only from the server the policy names for this registry.
  const entry = ctx.notaryServers?.find(
    (s) => s.registry === facts.reference.registry && sameServer(s.server, n.server),
  );
  if (ctx.notaryServers && !entry) {
    return result(
      "unverified",
      `the policy does not name ${n.server} as the notary server for ${facts.reference.registry}`,
    );
  }
  if (n.error)
    return result("unverified", `content trust metadata could not be fetched: ${clip(n.error.code, 40)}`);
  const tag = facts.reference.tag;
  if (!tag) return result("unverified", "content trust signs tags, and the reference has none");
  let chain: Chain;
  try {
    chain = verifyChain(n, tag, ctx.now);
  } catch (err) {
    if (!(err instanceof TufError)) throw err;
    return result(err.code === "TUF_INCOMPLETE" ? "unverified" : "invalid", err.message);
  }
  if (!chain.digest) {
    if (chain.delegated) {
      return result("unverified", `tag ${tag} is not in targets.json; its delegated roles were not fetched`);
    }
    return {
      signatures: [],
      notes: [`Docker Content Trust on ${n.server} has no signed target for tag ${tag}.`],
    };
  }
  if (!ctx.digests.has(chain.digest)) {
    return result(
      "invalid",
      `tag ${tag} is signed for ${chain.digest}, not ${describeDigests(ctx.digests)}`,
      {
        signedDigest: chain.digest,
      },
    );
  }
  const pin = rootPin(chain.rootSigners, entry, ctx.sigstore.keys);
  if (!pin) {
    const id = [...chain.rootSigners.keys()][0] ?? "";
    return result(
      "unverified",
      `the TUF chain for tag ${tag} verifies (${chain.digest}), but its root is not pinned, only trusted on first use from ${n.server}: pin it with rootKeyId: ${id} on the policy's notary entry for ${facts.reference.registry}, or its root certificate's public key in trust.keys`,
      { signedDigest: chain.digest, signer: `notary root ${id.slice(0, 12)}` },
    );
  }
  return result(
    "verified",
    `tag ${tag} is signed for ${chain.digest} through root, timestamp, snapshot and targets; ${pin.how}`,
    { signedDigest: chain.digest, signer: pin.signer },
  );
}

/** Server URLs compare without trailing slashes (trimmed by a loop: `/\/+$/` retries at every slash). */
function sameServer(a: string, b: string): boolean {
  const trim = (u: string) => {
    let end = u.length;
    while (end > 0 && u[end - 1] === "/") end--;
    return u.slice(0, end);
  };
  return trim(a) === trim(b);
}

/** The note every Docker Hub report carries about legacy content trust. */
export const DCT_RETIRED_NOTE =
  "Docker Content Trust (Notary v1) has been retired on Docker Hub: its signatures there are no longer maintained, so their absence is not a finding.";
