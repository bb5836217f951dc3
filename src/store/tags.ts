/**
 * What a report's reference says about tags, for the tag observations that feed `tag.moved` and
 * for the requests the CLI records. Pure.
 */
import type { Report } from "../checks/report.js";
import { effectiveTag, parseReference } from "../reference/parse.js";

/** One observation: `repository:tag` resolved to `digest`. */
export interface TagObservation {
  /** `registry/repository`. */
  repository: string;
  tag: string;
  digest: string;
}

/**
 * The tag the report's reference names (a bare name means `latest`, as for a pull; none for a
 * digest alone) and whether it pins a digest. Null when the reference does not parse.
 */
export function referenceTagOf(report: Report): { tag: string | undefined; pinned: boolean } | null {
  try {
    const ref = parseReference(report.reference);
    return { tag: effectiveTag(ref), pinned: ref.digest !== undefined };
  } catch {
    return null;
  }
}

/**
 * The tag observation a report supports, or null. A tag alone resolved to the report's digest. For
 * `name:tag@digest` the report's digest is the pinned one, which the tag may no longer point at:
 * only what the tag resolves to now (`image.tagDigest`) is an observation, and there is none when
 * that could not be looked up. A digest alone names no tag.
 */
export function tagObservationOf(report: Report): TagObservation | null {
  const named = referenceTagOf(report);
  if (!named?.tag) return null;
  const digest = named.pinned ? report.image.tagDigest : report.image.digest;
  if (!digest) return null;
  return { repository: `${report.image.registry}/${report.image.repository}`, tag: named.tag, digest };
}
