/** Shapes shared by the per-format verifiers. */
import type { FetchedBlob, SignatureArtifact } from "../facts/model.js";
import type { SignatureVerification } from "./types.js";

/** One blob's verdict, before the artifact's kind and location are added. */
export type BlobResult = Omit<SignatureVerification, "kind" | "foundVia">;

/**
 * Verifies each blob of an artifact (a manifest may carry several signatures, one per layer);
 * an artifact without any is itself invalid, since a signature manifest must hold one.
 */
export function eachBlob(
  art: SignatureArtifact,
  blobs: readonly FetchedBlob[],
  emptyDetail: string,
  check: (blob: FetchedBlob) => BlobResult,
): SignatureVerification[] {
  const { kind, foundVia } = art;
  if (blobs.length === 0) return [{ kind, foundVia, status: "invalid", detail: emptyDetail }];
  return blobs.map((blob, i) => ({
    kind,
    foundVia: blobs.length > 1 ? `${foundVia} layer ${i + 1}` : foundVia,
    ...check(blob),
  }));
}
