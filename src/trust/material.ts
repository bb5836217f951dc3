/**
 * Trust material from the policy: its keys, keyless identities and notary servers, plus the
 * Sigstore trusted root (the one shipped here unless the policy names another). Pure: the policy
 * loader resolves key `path`s to `pem` and reads a policy `trustedRoot` file before this runs.
 */
import type { Policy } from "../policy/schema.js";
import shippedRoot from "./trusted-root.json" with { type: "json" };
import type { TrustMaterial } from "./types.js";

/**
 * The Sigstore public-good trusted root shipped with image-check (Fulcio CAs, Rekor v1 and v2
 * logs, CT logs, TSA), from sigstore/sigstore-js packages/tuf/seeds.json (Apache-2.0); see
 * src/trust/README.md. Refresh it when Sigstore rotates keys.
 */
export const DEFAULT_TRUSTED_ROOT: unknown = shippedRoot;

/**
 * The root to use when the caller passed none: the shipped one, unless the policy names its own
 * file, which must then have been read. Falling back to the shipped root would quietly trust
 * what the policy replaced, so this fails closed: the text becomes a note in every report.
 */
function rootFallback(policy: Policy): unknown {
  const path = policy.trust.trustedRoot;
  return path === null ? DEFAULT_TRUSTED_ROOT : `the policy's trustedRoot ${path} was not loaded`;
}

/** Builds the trust material the policy describes; `trustedRoot` (parsed JSON) overrides the shipped root. */
export function trustMaterialFromPolicy(policy: Policy, trustedRoot?: unknown): TrustMaterial {
  const keys: TrustMaterial["keys"] = [];
  const notationCerts: string[] = [];
  for (const k of policy.trust.keys) {
    // A key still given by path was not resolved by the loader; it cannot be used here.
    if (k.pem === undefined) continue;
    keys.push({ name: k.name, pem: k.pem });
    // A certificate among the keys also anchors Notation signatures.
    if (k.pem.includes("BEGIN CERTIFICATE")) notationCerts.push(k.pem);
  }
  return {
    keys,
    keyless: policy.trust.keyless.map((id) => ({ issuer: id.issuer, subject: id.subject })),
    trustedRoot: trustedRoot ?? rootFallback(policy),
    notary: policy.trust.notary.map((n) => ({
      registry: n.registry,
      server: n.server,
      ...(n.rootKeyId === undefined ? {} : { rootKeyId: n.rootKeyId }),
    })),
    notationCerts,
  };
}
