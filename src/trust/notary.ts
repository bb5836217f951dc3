/**
 * Docker Content Trust (Notary v1): the tag's target hash, checked through the repository's TUF
 * metadata (https://theupdateframework.github.io/specification/v1.0.0/ section 5; notary's
 * tuf/signed package). root is self-signed by its threshold and trusted on first use, as the
 * docker client does; timestamp, snapshot and targets are signed by the keys root names for them;
 * each file is pinned by the hash and length its parent records; nothing may be expired; and the
 * tag's target sha256 must be the image digest. Delegated roles (targets/releases) are not fetched.
 */
import { Buffer } from "node:buffer";
import { constants, createHash, createPublicKey, type KeyObject, verify, X509Certificate } from "node:crypto";
import type { ImageFacts, NotaryFacts } from "../facts/model.js";
import { CanonicalJsonError, olpcCanonical } from "./canonical-json.js";
import type { TrustContext } from "./context.js";
import { describeDigests } from "./digests.js";
import { arr, at, clip, decodeBase64, isObject, type JsonObject, parseJson, str } from "./parse.js";
import type { SignatureVerification } from "./types.js";

/** Raised inside this module for a check that fails; turned into an `invalid` result. */
class TufError extends Error {}

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
  if (!bytes.ok) throw new TufError(`${role}.json is not base64`);
  const json = parseJson(bytes.value);
  if (!json.ok || !isObject(json.value) || !isObject(json.value.signed)) {
    throw new TufError(`${role}.json is not TUF metadata`);
  }
  if (str(json.value.signed, "_type") !== TYPES[role]) throw new TufError(`${role}.json has the wrong _type`);
  return { bytes: bytes.value, signed: json.value.signed, signatures: arr(json.value, "signatures") };
}

/** A public key from root.json (notary tuf/data/keys.go key types). */
function keyFromTuf(key: unknown, gun: string, now: Date): KeyObject {
  const type = str(key, "keytype");
  const material = decodeBase64(str(key, "keyval", "public"));
  if (!type || !material.ok) throw new TufError("root.json has a key without public material");
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
          throw new TufError("a root.json certificate has expired");
        // notary requires root certificates to name the repository (GUN) as their common name.
        const cn = cert.subject.split("\n").find((l) => l.startsWith("CN="));
        if (cn !== undefined && cn.slice(3) !== gun)
          throw new TufError(`a root.json certificate names ${clip(cn, 60)}, not ${gun}`);
        return cert.publicKey;
      }
      default:
        throw new TufError(`root.json has a key of unknown type ${clip(type, 20)}`);
    }
  } catch (err) {
    if (err instanceof TufError) throw err;
    throw new TufError(`root.json has an unreadable ${clip(type, 20)} key`);
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
    throw new TufError(`root.json gives ${role} no threshold`);
  if (ids.some((id) => !keys.has(id))) throw new TufError(`root.json names an unknown key for ${role}`);
  return { ids, threshold: threshold as number };
}

/** Checks that `file` carries at least `threshold` valid signatures by distinct keys of `role`. */
function checkSignatures(file: RoleFile, role: RoleName, root: RoleFile, keys: Map<string, KeyObject>): void {
  const { ids, threshold } = roleKeys(root, keys, role);
  let canonical: Buffer;
  try {
    canonical = Buffer.from(olpcCanonical(file.signed), "utf8");
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new TufError(`${role}.json cannot be canonicalized`);
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
    throw new TufError(`${role}.json has ${good.size} valid signature(s) of the ${threshold} its role needs`);
  }
}

function checkExpiry(file: RoleFile, role: RoleName, now: Date): void {
  const expires = Date.parse(str(file.signed, "expires") ?? "");
  if (!(expires > now.getTime()))
    throw new TufError(`${role}.json expired at ${clip(String(file.signed.expires), 40)}`);
}

/** Checks `file` against the length and hashes its parent recorded for it. */
function checkMeta(meta: unknown, file: RoleFile, role: RoleName, parent: RoleName): void {
  if (!isObject(meta)) throw new TufError(`${parent}.json does not record ${role}.json`);
  if (at(meta, "length") !== file.bytes.length)
    throw new TufError(`${role}.json length differs from what ${parent}.json records`);
  const hashes = at(meta, "hashes");
  let checked = 0;
  for (const alg of ["sha256", "sha512"]) {
    const want = str(hashes, alg);
    if (want === undefined) continue;
    checked++;
    if (createHash(alg).update(file.bytes).digest("base64") !== want) {
      throw new TufError(`${role}.json ${alg} differs from what ${parent}.json records`);
    }
  }
  if (checked === 0) throw new TufError(`${parent}.json records no usable hash for ${role}.json`);
}

/** Runs the whole TUF chain; returns the verified target digest or throws TufError. */
function verifyChain(
  n: NotaryFacts,
  tag: string,
  now: Date,
): { digest: string | null; rootKey: string; delegated: boolean } {
  const root = readRole(n, "root");
  const timestamp = readRole(n, "timestamp");
  const snapshot = readRole(n, "snapshot");
  const targets = readRole(n, "targets");
  if (!root || !timestamp || !snapshot || !targets) throw new TufError("TUF metadata incomplete");

  const keys = new Map<string, KeyObject>();
  const declared = at(root.signed, "keys");
  if (!isObject(declared)) throw new TufError("root.json lists no keys");
  for (const [id, key] of Object.entries(declared)) {
    if (keyId(key) !== id) throw new TufError(`root.json key id ${clip(id, 16)} does not match its key`);
    keys.set(id, keyFromTuf(key, n.gun, now));
  }
  checkSignatures(root, "root", root, keys);
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

  const rootKey = (arr(root.signed, "roles", "root", "keyids")[0] as string | undefined) ?? "";
  const delegated = arr(targets.signed, "delegations", "roles").length > 0;
  const target = at(targets.signed, "targets", tag);
  if (target === undefined) return { digest: null, rootKey, delegated };
  const sha256 = decodeBase64(str(target, "hashes", "sha256"));
  if (!sha256.ok || sha256.value.length !== 32) throw new TufError(`target ${clip(tag, 40)} has no sha256`);
  return { digest: `sha256:${sha256.value.toString("hex")}`, rootKey, delegated };
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
  // The root is trusted on first use only because the policy names this server for this registry.
  const sameServer = (a: string, b: string) => a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
  if (
    ctx.notaryServers &&
    !ctx.notaryServers.some((s) => s.registry === facts.reference.registry && sameServer(s.server, n.server))
  ) {
    return result(
      "unverified",
      `the policy does not name ${n.server} as the notary server for ${facts.reference.registry}`,
    );
  }
  if (n.error)
    return result("unverified", `content trust metadata could not be fetched: ${clip(n.error.code, 40)}`);
  const tag = facts.reference.tag;
  if (!tag) return result("unverified", "content trust signs tags, and the reference has none");
  let chain: ReturnType<typeof verifyChain>;
  try {
    chain = verifyChain(n, tag, ctx.now);
  } catch (err) {
    if (!(err instanceof TufError)) throw err;
    if (err.message === "TUF metadata incomplete") return result("unverified", err.message);
    return result("invalid", err.message);
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
  return result(
    "verified",
    `tag ${tag} is signed for ${chain.digest} through root, timestamp, snapshot and targets; root trusted on first use from ${n.server}`,
    { signedDigest: chain.digest, signer: `notary root ${chain.rootKey.slice(0, 12)}` },
  );
}

/** The note every Docker Hub report carries about legacy content trust. */
export const DCT_RETIRED_NOTE =
  "Docker Content Trust (Notary v1) has been retired on Docker Hub: its signatures there are no longer maintained, so their absence is not a finding.";
