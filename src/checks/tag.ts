/**
 * Tag checks: how the image was named (contract ids `tag.*`). Pure.
 */
import type { ImageFacts } from "../facts/model.js";
import { finding } from "./finding.js";
import type { Check, CheckContext, Finding } from "./types.js";

/** Architecture words in tags (`stable-amd64`): they carry digits but say nothing about the version. */
const ARCH_WORDS =
  /(?:^|(?<=[-_.]))(?:amd64|arm64(?:v8)?|arm32v[5-7]|armv[5-7]l?|armhf|armel|aarch64|i386|i686|x86_64|x86-64|386|ppc64le|s390x|riscv64|mips64le)(?=$|[-_.])/g;

/** True when a tag names a version: `3.12-alpine3.20`, `1.27.3-bookworm`, `v2`, `2024.05`; not `stable`, `bookworm`, `lts`. */
export function isDescriptiveTag(tag: string): boolean {
  return /\d/.test(tag.replace(ARCH_WORDS, ""));
}

/** `registry/repository[:tag]@digest`: the reference to use, or undefined when no digest is known. */
export function pinnedReference(
  ref: { registry: string; repository: string; tag?: string; digest?: string },
  digest: string | undefined = ref.digest,
): string | undefined {
  const d = ref.digest ?? digest;
  if (!d) return undefined;
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}@${d}`;
}

/**
 * What the reference's tag resolves to now: `ctx.tagDigest` when the caller looked it up, else
 * `facts.registryInfo.tagDigest` (the registry source asks for a `name:tag@digest`), else
 * `facts.digest` when the facts were gathered by tag. Undefined when not known.
 */
export function tagResolution(facts: ImageFacts, ctx: CheckContext): string | undefined {
  if (ctx.tagDigest) return ctx.tagDigest;
  if (facts.registryInfo?.tagDigest) return facts.registryInfo.tagDigest;
  const ref = facts.reference;
  if (!ref.digest) return facts.digest;
  return facts.digest && facts.digest !== ref.digest ? facts.digest : undefined;
}

/** Every tag check. */
export const tagChecks: Check = (facts, ctx) => {
  const ref = facts.reference;
  const out: Finding[] = [];
  const shownTag = ref.tag ?? "latest";
  const pinned = pinnedReference(ref, facts.digest);

  if (ref.tag === "latest" || (!ref.tag && !ref.digest)) {
    out.push(
      finding(
        "tag.latest",
        ref.tag ? "The reference uses the tag latest" : "The reference has no tag, so it means latest",
        `Expected a version tag or a digest; got ${ref.tag ? "`latest`" : "no tag (docker reads it as `latest`)"}, which points at whatever was pushed last and changes without notice. Use a version tag${pinned ? `, pinned by digest: ${pinned}` : " and pin it by digest"}.`,
        { reference: ref.original, tag: shownTag },
      ),
    );
  }

  if (ref.tag && ref.tag !== "latest" && !isDescriptiveTag(ref.tag)) {
    out.push(
      finding(
        "tag.not-descriptive",
        `The tag ${ref.tag} carries no version number`,
        `Expected a tag that names a version (such as 3.12-alpine3.20 or 1.27.3-bookworm); got \`${ref.tag}\`, a moving name that follows whatever the publisher calls ${ref.tag} today. Use a version tag${pinned ? ` and pin the digest: ${pinned}` : ""}.`,
        { reference: ref.original, tag: ref.tag },
      ),
    );
  }

  if (!ref.digest) {
    out.push(
      finding(
        "tag.not-pinned",
        "The reference is not pinned by digest",
        pinned
          ? `Expected name@sha256:...; got ${ref.original}, which the publisher can re-point. Use the pinned reference: ${pinned}`
          : `Expected name@sha256:...; got ${ref.original}, which the publisher can re-point. Its digest could not be resolved, so pin it once it can.`,
        { reference: ref.original, pinned: pinned ?? null },
      ),
    );
  }

  const now = tagResolution(facts, ctx);
  if ((ref.tag || !ref.digest) && ctx.lastKnownDigest && now && now !== ctx.lastKnownDigest) {
    out.push(
      finding(
        "tag.moved",
        `The tag ${shownTag} now points at another image than at its last check here`,
        `Expected ${ref.registry}/${ref.repository}:${shownTag} to still resolve to ${ctx.lastKnownDigest}, as at its last check or decision; it now resolves to ${now}. Find out why it was re-pushed (a rebuild, or a takeover) before trusting it, and pin the digest you reviewed.`,
        { tag: shownTag, lastKnownDigest: ctx.lastKnownDigest, currentDigest: now },
      ),
    );
  }

  if (ref.tag && ref.digest && now && now !== ref.digest) {
    out.push(
      finding(
        "tag.digest-conflict",
        `The tag ${ref.tag} no longer resolves to the pinned digest`,
        `Expected ${ref.tag} to resolve to the pinned ${ref.digest}; it now resolves to ${now}. The pin wins (that image is what was checked), but the tag in the reference is misleading: update the pin after reviewing the new image, or drop the tag.`,
        { tag: ref.tag, pinnedDigest: ref.digest, tagDigest: now },
      ),
    );
  }
  return out;
};
