/**
 * The digests an image answers to. A signature may name the index the tag resolves to or the
 * platform manifest picked from it (cosign signs whichever digest it was given), so both count.
 */
import type { ImageFacts } from "../facts/model.js";
import { isObject } from "./parse.js";

/** `algorithm:hex`, lower-cased, for the digests this image answers to. */
export type DigestSet = ReadonlySet<string>;

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,}$/;

/** Normalizes `sha256:ABC…` to lower case; null when it is not a digest. */
export function normalizeDigest(d: unknown): string | null {
  if (typeof d !== "string") return null;
  const lower = d.trim().toLowerCase();
  return DIGEST.test(lower) ? lower : null;
}

/** The image's index digest and platform manifest digest (whichever are known). */
export function imageDigests(facts: Pick<ImageFacts, "digest" | "manifestDigest">): DigestSet {
  const out = new Set<string>();
  for (const d of [facts.digest, facts.manifestDigest]) {
    const n = normalizeDigest(d);
    if (n) out.add(n);
  }
  return out;
}

/** `{ sha256: hex, ... }` (an in-toto DigestSet) as `alg:hex` strings. */
export function digestSetEntries(set: unknown): string[] {
  if (!isObject(set)) return [];
  const out: string[] = [];
  for (const [alg, hex] of Object.entries(set)) {
    const n = normalizeDigest(`${alg}:${String(hex)}`);
    if (n) out.push(n);
  }
  return out;
}

/** Human list of the image digests, for details. */
export function describeDigests(digests: DigestSet): string {
  return digests.size === 0 ? "(no digest known)" : [...digests].join(" or ");
}
