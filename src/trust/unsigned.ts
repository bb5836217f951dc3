/**
 * The trust report of an image with nothing to verify: no signature, no attestation, no notary
 * data. Kept apart from verify.ts so that checking such an image never loads the Sigstore
 * libraries (about a fifth of the CLI's start-up): the trust material is compiled, and its own
 * problems noted, when there is something to verify with it.
 */
import type { ImageFacts } from "../facts/model.js";
import { DCT_RETIRED_NOTE } from "./notary.js";
import type { TrustReport } from "./types.js";

/** The facts these functions read. */
type Facts = Pick<ImageFacts, "reference" | "signatures" | "attestations" | "notary">;

/** Whether the facts carry anything a verifier reads (then call verifyTrust). */
export function hasTrustArtifacts(facts: Facts): boolean {
  return (
    (facts.signatures?.length ?? 0) > 0 || (facts.attestations?.length ?? 0) > 0 || Boolean(facts.notary)
  );
}

/** What verifyTrust reports when `hasTrustArtifacts` is false: no signature, no attestation. */
export function unsignedTrust(facts: Facts): TrustReport {
  return {
    signatures: [],
    attestations: [],
    statements: [],
    notes: facts.reference?.registry === "docker.io" ? [DCT_RETIRED_NOTE] : [],
  };
}
