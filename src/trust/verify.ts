/**
 * The trust layer's entry point: every signature and attestation the facts layer fetched,
 * verified against the policy's trust material at `now`. Pure over bytes already fetched, and
 * total: hostile input yields `invalid` or `unverified` entries with a one-line detail, never a throw.
 */
import type { ImageFacts, SignatureArtifact } from "../facts/model.js";
import { summarizeAttestations } from "./attestations.js";
import { verifySigstoreBundleArtifact } from "./bundle.js";
import { compileContext, type TrustContext } from "./context.js";
import { verifyCosignSignature } from "./cosign.js";
import { DCT_RETIRED_NOTE, verifyNotary } from "./notary.js";
import { verifyNotationArtifact } from "./notation.js";
import { clip } from "./parse.js";
import type { SignatureVerification, TrustMaterial, TrustReport } from "./types.js";

export type { TrustMaterial } from "./types.js";

/** The facts verifyTrust reads. */
export type TrustFacts = Pick<
  ImageFacts,
  "reference" | "digest" | "manifestDigest" | "signatures" | "attestations" | "notary"
>;

function internal(err: unknown): string {
  return `could not be checked: ${clip(err instanceof Error ? err.message : String(err), 100)}`;
}

function verifyArtifact(art: SignatureArtifact, ctx: TrustContext): SignatureVerification[] {
  try {
    switch (art.kind) {
      case "cosign":
        return verifyCosignSignature(art, ctx);
      case "sigstore-bundle":
        return verifySigstoreBundleArtifact(art, ctx);
      case "notation":
        return verifyNotationArtifact(art, ctx);
      default:
        return [];
    }
  } catch (err) {
    // A bug here must not hide a signature, nor pass it: it stays visible and never counts as verified.
    return [{ kind: art.kind, foundVia: art.foundVia, status: "unverified", detail: internal(err) }];
  }
}

/** Verifies the image's signatures and summarizes its attestations. */
export function verifyTrust(facts: TrustFacts, material: TrustMaterial, now: Date): TrustReport {
  const ctx = compileContext(facts, material, now);
  const notes = ctx.problems.map((p) => `Trust material: ${p}.`);
  const signatures = (facts.signatures ?? []).flatMap((art) => verifyArtifact(art, ctx));

  try {
    const dct = verifyNotary(facts, ctx);
    signatures.push(...dct.signatures);
    notes.push(...dct.notes);
  } catch (err) {
    const server = facts.notary?.server ?? "notary";
    signatures.push({
      kind: "notary-v1",
      foundVia: `notary:${server}`,
      status: "unverified",
      detail: internal(err),
    });
  }
  if (facts.reference?.registry === "docker.io") notes.push(DCT_RETIRED_NOTE);

  let attestations: TrustReport["attestations"] = [];
  let statements: NonNullable<TrustReport["statements"]> = [];
  try {
    const summary = summarizeAttestations(facts.attestations ?? [], ctx);
    attestations = summary.attestations;
    statements = summary.statements;
    notes.push(...summary.notes);
  } catch (err) {
    notes.push(`Attestations ${internal(err)}`);
  }
  return { signatures, attestations, statements, notes };
}
