/**
 * Trust checks: signatures and SBOMs (contract ids `trust.*`). Pure: they read the TrustReport the
 * trust layer (src/trust) made from the fetched bytes. `trust.digest-mismatch` comes from a
 * gatherer's DIGEST_MISMATCH (see check.ts), never from here.
 */
import type { ImageFacts } from "../facts/model.js";
import type { SignatureVerification } from "../trust/types.js";
import { finding, listing, plural } from "./finding.js";
import type { Check, Finding } from "./types.js";

/** What a verified signature of each kind was checked against (CONTRACT: "a trusted key or identity"). */
const ANCHORS: Record<SignatureVerification["kind"], string> = {
  cosign: "verified against a key or keyless identity the policy trusts",
  "sigstore-bundle": "verified against a key or keyless identity the policy trusts",
  notation: "verified against a certificate in the policy's Notation trust store",
  "notary-v1": "verified through Docker Content Trust metadata whose root key the policy pins",
};

function describe(s: SignatureVerification): string {
  return `${s.kind} signature (${s.foundVia})${s.signer ? ` by ${s.signer}` : ""}`;
}

function sigEvidence(s: SignatureVerification): Record<string, unknown> {
  return {
    kind: s.kind,
    foundVia: s.foundVia,
    status: s.status,
    signer: s.signer ?? null,
    signedDigest: s.signedDigest ?? null,
    detail: s.detail,
  };
}

/** True when gathering that part failed, so its absence proves nothing. */
function missing(facts: ImageFacts, ...parts: string[]): boolean {
  return facts.incomplete.some((p) => parts.includes(p.part));
}

/** Every trust check. */
export const trustChecks: Check = (facts, ctx) => {
  const out: Finding[] = [];
  const sigs = ctx.trust.signatures;
  const verified = sigs.filter((s) => s.status === "verified");
  const invalid = sigs.filter((s) => s.status === "invalid");
  const unproven = sigs.filter((s) => s.status === "untrusted" || s.status === "unverified");
  const digest = facts.digest ?? facts.reference.digest ?? "this digest";

  if (verified.length) {
    const signers = [...new Set(verified.map((s) => s.signer ?? s.kind))];
    out.push(
      finding(
        "trust.signed",
        `Signed by ${listing(signers)}`,
        `${plural(verified.length, "signature")} for ${digest}: ${listing(verified.map((s) => `${describe(s)} ${ANCHORS[s.kind]} (${s.detail})`))}.`,
        { signatures: verified.map(sigEvidence) },
      ),
    );
  }

  if (invalid.length) {
    out.push(
      finding(
        "trust.signature-invalid",
        `${invalid.length === 1 ? "A signature" : `${invalid.length} signatures`} for this image ${invalid.length === 1 ? "is" : "are"} broken`,
        `Expected every signature stored for ${digest} to verify and to name this digest; ${listing(invalid.map((s) => `${describe(s)}: ${s.detail}`))}. A broken signature next to an image is a sign of tampering: do not use the image until the publisher explains it.`,
        { signatures: invalid.map(sigEvidence) },
      ),
    );
  }

  const anySignature = sigs.length > 0 || facts.signatures.length > 0;
  if (!anySignature && !missing(facts, "signatures", "referrers", "notary")) {
    out.push(
      finding(
        "trust.unsigned",
        "The image is not signed",
        `Expected a signature (cosign, Sigstore bundle, Notation or Docker Content Trust) for ${digest}; found none. Nothing ties the image to its publisher: ask them to sign it (cosign sign), and add their key or identity to the policy.`,
        {
          looked: [
            "cosign .sig tag",
            "OCI referrers (Sigstore bundle, Notation)",
            "sha256-<hex> fallback index",
            ...(ctx.policy.trust.notary.length ? ["notary (DCT)"] : []),
          ],
        },
      ),
    );
  }

  if (verified.length === 0 && (unproven.length > 0 || (sigs.length === 0 && facts.signatures.length > 0))) {
    const shown = unproven.length
      ? unproven.map(describe)
      : facts.signatures.map((s) => `${s.kind} signature (${s.foundVia})`);
    out.push(
      finding(
        "trust.untrusted-signer",
        "Signed, but not by anyone the policy trusts",
        `Expected a signature that verifies against a key or keyless identity in the policy (trust.keys, trust.keyless; for Docker Content Trust, a root pinned by trust.notary rootKeyId or trust.keys); found ${listing(shown)}${unproven.length ? `: ${unproven.map((s) => s.detail).join("; ")}` : ", not verified"}. Find out who signed it; if you trust them, add their public key or identity to the policy.`,
        {
          signatures: unproven.length
            ? unproven.map(sigEvidence)
            : facts.signatures.map((s) => ({
                kind: s.kind,
                foundVia: s.foundVia,
                status: "unverified",
                manifestDigest: s.manifestDigest,
              })),
        },
      ),
    );
  }

  const sboms = ctx.trust.attestations.filter(
    (a) => (a.kind === "sbom-spdx" || a.kind === "sbom-cyclonedx") && a.subjectMatches !== false,
  );
  const announced =
    ctx.trust.attestations.length === 0 &&
    facts.attestations.some((a) => a.predicateTypes.some((t) => /spdx|cyclonedx/i.test(t)));
  if (sboms.length === 0 && !announced && !missing(facts, "attestations", "referrers")) {
    out.push(
      finding(
        "trust.no-sbom",
        "No SBOM attestation",
        `Expected an SBOM (SPDX or CycloneDX) attached to ${digest}, listing what is inside; found none. Without it, a newly published CVE cannot be matched to this image without pulling it: ask the publisher to attach one (docker buildx build --sbom=true, or cosign attest).`,
        {
          attestationsFound: ctx.trust.attestations.map((a) => ({
            kind: a.kind,
            predicateType: a.predicateType,
            foundVia: a.foundVia,
          })),
        },
      ),
    );
  }
  return out;
};
