/**
 * The trust material compiled once per verification: keys parsed, identities compiled, the
 * Sigstore root turned into @sigstore/verify material, plus the image's digests and the clock.
 */
import type { X509Certificate } from "node:crypto";
import type { ImageFacts } from "../facts/model.js";
import { type DigestSet, imageDigests } from "./digests.js";
import { loadTrustedKeys, publicKeyFromPem, type TrustedKey } from "./keys.js";
import { pemBlocks } from "./parse.js";
import { compileIdentities, compileSigstoreMaterial, type SigstoreTrust } from "./sigstore.js";
import type { TrustMaterial } from "./types.js";

/** Everything a verifier needs, compiled. */
export interface TrustContext {
  now: Date;
  digests: DigestSet;
  sigstore: SigstoreTrust;
  /** Notation trust store certificates (from `notationCerts` and certificate PEMs among `keys`). */
  notationCerts: X509Certificate[];
  /** Notary servers the policy names, by registry; undefined when the material says nothing. */
  notaryServers?: readonly { registry: string; server: string; rootKeyId?: string }[];
  /** True when the policy trusts any key or identity (attestation signatures are then checked). */
  hasTrust: boolean;
  /** Problems with the material itself, for the report's notes. */
  problems: string[];
}

/** Compiles `material` for verifying `facts` at `now`. Never throws on bad material. */
export function compileContext(
  facts: Pick<ImageFacts, "digest" | "manifestDigest">,
  material: TrustMaterial,
  now: Date,
): TrustContext {
  const problems: string[] = [];
  const { keys, unusable } = loadTrustedKeys(material.keys ?? []);
  for (const name of unusable) problems.push(`trusted key "${name}" is not a PEM public key or certificate`);
  const rekor = loadTrustedKeys(material.rekorKeys ?? []);
  for (const name of rekor.unusable) problems.push(`Rekor key "${name}" is not a PEM public key`);
  const identities = compileIdentities(material.keyless ?? []);
  problems.push(...identities.problems);
  const { material: sigstoreMaterial, rootProblem } = compileSigstoreMaterial(
    material.trustedRoot,
    rekor.keys,
  );
  if (rootProblem) problems.push(rootProblem);

  const notationCerts: X509Certificate[] = keys.flatMap((k: TrustedKey) =>
    k.certificate ? [k.certificate] : [],
  );
  for (const pem of material.notationCerts ?? []) {
    const blocks = pemBlocks(pem);
    const parsed = blocks.map(publicKeyFromPem);
    if (blocks.length === 0 || parsed.some((p) => !p?.certificate)) {
      problems.push("a Notation trust store entry is not a PEM certificate");
    }
    for (const p of parsed) if (p?.certificate) notationCerts.push(p.certificate);
  }

  const sigstore: SigstoreTrust = { material: sigstoreMaterial, keys, keyless: identities.matchers };
  if (rootProblem) sigstore.rootProblem = rootProblem;
  return {
    now,
    ...(material.notary ? { notaryServers: material.notary } : {}),
    digests: imageDigests(facts),
    sigstore,
    notationCerts,
    hasTrust: keys.length > 0 || identities.matchers.length > 0,
    problems,
  };
}
