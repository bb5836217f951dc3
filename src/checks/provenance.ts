/**
 * Provenance checks: who published the image, where its source is, how old it is (contract ids
 * `provenance.*`). Pure: the Docker Hub facts were fetched by the gatherer (src/hub) beforehand.
 */
import type { ImageFacts } from "../facts/model.js";
import { matchingGlob } from "../policy/glob.js";
import type { Policy } from "../policy/schema.js";
import type { AttestationSummary } from "../trust/types.js";
import { finding } from "./finding.js";
import type { Check, CheckContext, Finding } from "./types.js";

/** Who stands behind an image, most vetted first. */
export type PublisherKind =
  | "official"
  | "verified-publisher"
  | "sponsored-oss"
  | "trusted-by-policy"
  | "community"
  | "unknown";

/** The publisher classification with the facts that decided it. */
export interface Publisher {
  kind: PublisherKind;
  /** One line: why this kind. */
  reason: string;
  /** The `registries.trusted` glob that matched, if any. */
  trustedBy?: string;
}

const OFFICIAL_REPOSITORY = /^library\/[^/]+$/;

/** Classify the publisher: official, Hub badge, policy trust, then community or unknown. */
export function classifyPublisher(facts: ImageFacts, policy: Policy): Publisher {
  const ref = facts.reference;
  const hub = facts.hub;
  const trustedBy = matchingGlob(policy.registries.trusted, ref);
  const withTrust = (p: Publisher): Publisher => (trustedBy ? { ...p, trustedBy } : p);
  if (ref.registry === "docker.io" && OFFICIAL_REPOSITORY.test(ref.repository))
    return withTrust({ kind: "official", reason: "a Docker Official Image (docker.io/library/)" });
  if (hub && !hub.error) {
    if (hub.badge === "official" || hub.official)
      return withTrust({ kind: "official", reason: "Docker Hub marks it as a Docker Official Image" });
    if (hub.badge === "verified_publisher")
      return withTrust({
        kind: "verified-publisher",
        reason: "Docker Hub marks the publisher as a Docker Verified Publisher",
      });
    if (hub.badge === "open_source")
      return withTrust({
        kind: "sponsored-oss",
        reason: "Docker Hub marks the publisher as Docker-Sponsored Open Source",
      });
  }
  if (trustedBy) return { kind: "trusted-by-policy", reason: `the policy trusts ${trustedBy}`, trustedBy };
  if (ref.registry !== "docker.io")
    return {
      kind: "community",
      reason: `${ref.registry} has no publisher vetting program and the policy does not trust this repository`,
    };
  if (!hub) return { kind: "unknown", reason: "Docker Hub was not asked about the publisher" };
  if (hub.error)
    return {
      kind: "unknown",
      reason: `Docker Hub could not be asked about the publisher (${hub.error.code}: ${hub.error.message})`,
    };
  return {
    kind: "community",
    reason: "Docker Hub shows no official, verified-publisher or sponsored-OSS badge",
  };
}

const LABEL_OF: Record<PublisherKind, string> = {
  official: "Docker Official Image",
  "verified-publisher": "Docker Verified Publisher",
  "sponsored-oss": "Docker-Sponsored Open Source",
  "trusted-by-policy": "trusted by policy",
  community: "community (not vetted)",
  unknown: "unknown",
};

/** Where a source link or revision can be written, in the order they are looked at. */
const SOURCE_KEYS = ["org.opencontainers.image.source", "org.label-schema.vcs-url"];
const REVISION_KEYS = ["org.opencontainers.image.revision", "org.label-schema.vcs-ref"];

/** A value of one of the metadata keys, and where it was written. */
interface Metadata {
  where: string;
  key: string;
  value: string;
}

/** Every non-empty value of `keys` in the labels, the manifest annotations and the index annotations, in that order. */
function metadataAll(facts: ImageFacts, keys: string[]): Metadata[] {
  const places: [string, Record<string, string>][] = [
    ["label", facts.config.labels],
    ["annotation", facts.annotations],
    ["index annotation", facts.indexAnnotations],
  ];
  const out: Metadata[] = [];
  for (const [where, map] of places) {
    for (const key of keys) {
      const v = map[key]?.trim();
      if (v) out.push({ where, key, value: v });
    }
  }
  return out;
}

/** The first non-empty value of `keys` in the labels, the manifest annotations or the index annotations. */
function metadata(facts: ImageFacts, keys: string[]): Metadata | null {
  return metadataAll(facts, keys)[0] ?? null;
}

/** URL schemes a source repository is fetched with (`git+https` is how SLSA writes a git remote). */
const SOURCE_SCHEMES = new Set(["http:", "https:", "git:", "ssh:", "git+https:", "git+http:", "git+ssh:"]);

/**
 * scp-like git syntax, `user@host:path` (git@github.com:acme/app.git, git@host:/srv/app.git). One
 * character class per part, no nesting: linear. A path starting `//` would be a URL in disguise.
 */
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)\S+$/;

/**
 * Whether `value` is a link to a source repository: an http(s), git or ssh URL with a host, or the
 * scp-like `user@host:path`. A label is written by whoever built the image, so `javascript:...`,
 * `TODO`, or a bare word is not a source, and must not stop `provenance.no-source` from firing.
 */
export function isSourceUrl(value: string): boolean {
  const v = value.trim();
  if (/\s/.test(v)) return false;
  if (SCP_LIKE.test(v)) return true;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return false;
  }
  return SOURCE_SCHEMES.has(url.protocol) && url.hostname !== "";
}

/** Provenance attestations that are about this image and not broken. */
export function provenanceAttestations(ctx: CheckContext): AttestationSummary[] {
  return ctx.trust.attestations.filter(
    (a) => a.kind === "slsa-provenance" && a.subjectMatches !== false && a.signatureVerified !== false,
  );
}

/** Every provenance check. */
export const provenanceChecks: Check = (facts, ctx) => {
  const out: Finding[] = [];
  const ref = facts.reference;
  const name = `${ref.registry}/${ref.repository}`;
  const pub = classifyPublisher(facts, ctx.policy);
  const hub = facts.hub && !facts.hub.error ? facts.hub : undefined;
  const hubEvidence = hub
    ? {
        badge: hub.badge ?? null,
        lastUpdated: hub.lastUpdated ?? null,
        pullCount: hub.pullCount ?? null,
        starCount: hub.starCount ?? null,
      }
    : null;
  out.push(
    finding("provenance.publisher", `Publisher: ${LABEL_OF[pub.kind]}`, `${name}: ${pub.reason}.`, {
      publisher: pub.kind,
      registry: ref.registry,
      repository: ref.repository,
      trustedBy: pub.trustedBy ?? null,
      hub: hubEvidence,
      hubError: facts.hub?.error ?? null,
    }),
  );
  if (pub.kind === "community" || pub.kind === "unknown") {
    const namespace = ref.repository.includes("/")
      ? `${ref.registry}/${ref.repository.slice(0, ref.repository.lastIndexOf("/"))}/*`
      : name;
    out.push(
      finding(
        "provenance.untrusted-publisher",
        pub.kind === "unknown" ? "The publisher could not be established" : "The publisher is not vetted",
        `Expected an official image, a Docker Verified Publisher, Docker-Sponsored Open Source or a publisher the policy trusts; got ${LABEL_OF[pub.kind]}: ${pub.reason}. Check who controls ${name}; if you trust them, add \`${namespace}\` to registries.trusted in the policy.`,
        {
          publisher: pub.kind,
          registry: ref.registry,
          repository: ref.repository,
          hubError: facts.hub?.error ?? null,
        },
      ),
    );
  }

  const attested = provenanceAttestations(ctx);
  const sources = metadataAll(facts, SOURCE_KEYS);
  const source = sources.find((m) => isSourceUrl(m.value));
  const sourceAtt = attested.find((a) => a.sourceRepository && isSourceUrl(a.sourceRepository));
  if (!source && !sourceAtt) {
    // What was written but is no link (javascript:..., a bare word): named, so the reader sees why.
    const notLinks = [
      ...sources.map((m) => `${m.where} ${m.key}`),
      ...attested.filter((a) => a.sourceRepository).map(() => "SLSA provenance attestation"),
    ];
    out.push(
      finding(
        "provenance.no-source",
        "The image does not say where its source is",
        notLinks.length
          ? `Expected a source link (an http(s), git or ssh URL, or git's user@host:path) in the label or annotation org.opencontainers.image.source (or org.label-schema.vcs-url), or a provenance attestation naming the repository; found only values that are no such link (${notLinks.join(", ")}). Without it the image cannot be traced to reviewed code: ask the publisher to set it to the repository's URL.`
          : "Expected a source link: the label or annotation org.opencontainers.image.source (or org.label-schema.vcs-url), or a provenance attestation naming the repository; found none. Without it the image cannot be traced to reviewed code: ask the publisher to add it (docker buildx build --provenance=mode=max, or LABEL org.opencontainers.image.source=...).",
        {
          looked: [
            ...SOURCE_KEYS.map((k) => `label/annotation ${k}`),
            "SLSA provenance attestation (source repository)",
          ],
          ...(notLinks.length ? { notLinks } : {}),
        },
      ),
    );
  }
  const revision = metadata(facts, REVISION_KEYS);
  const revisionAtt = attested.find((a) => a.sourceRevision);
  if (!revision && !revisionAtt) {
    out.push(
      finding(
        "provenance.no-revision",
        "The image does not say which source revision it was built from",
        "Expected a revision: the label or annotation org.opencontainers.image.revision (or org.label-schema.vcs-ref), or a provenance attestation naming the commit; found none. A source link alone does not say which code is inside: ask the publisher to record the commit.",
        {
          looked: [
            ...REVISION_KEYS.map((k) => `label/annotation ${k}`),
            "SLSA provenance attestation (source revision)",
          ],
        },
      ),
    );
  }

  const announced =
    ctx.trust.attestations.length === 0 &&
    facts.attestations.some((a) =>
      a.predicateTypes.some((t) => t.startsWith("https://slsa.dev/provenance/")),
    );
  const attestationsMissing = facts.incomplete.some(
    (p) => p.part === "attestations" || p.part === "referrers",
  );
  if (attested.length === 0 && !announced && !attestationsMissing) {
    const broken = ctx.trust.attestations.filter((a) => a.kind === "slsa-provenance");
    out.push(
      finding(
        "provenance.no-attestation",
        "No SLSA provenance attestation",
        broken.length
          ? `Expected a SLSA provenance attestation for this image; the ${broken.length === 1 ? "one" : "ones"} found ${broken.some((a) => a.subjectMatches === false) ? "name another digest" : "did not verify"}. Ask the publisher to attach provenance for this exact digest.`
          : "Expected a SLSA provenance attestation saying how and from what the image was built; found none. Ask the publisher to build with provenance (docker buildx build --provenance=mode=max, or the SLSA GitHub generator).",
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

  const created = imageCreated(facts);
  if (created) {
    const ageDays = Math.floor((ctx.now.getTime() - created.date.getTime()) / 86_400_000);
    if (ageDays > ctx.policy.maxAgeDays) {
      out.push(
        finding(
          "provenance.stale",
          `Built ${ageDays} days ago (the policy allows ${ctx.policy.maxAgeDays})`,
          `Expected an image rebuilt within ${ctx.policy.maxAgeDays} days; this one was created ${created.text} (${created.from}), ${ageDays} days ago, so it misses every base-image and package fix since. Use a newer tag or ask the publisher to rebuild.`,
          { created: created.text, from: created.from, ageDays, maxAgeDays: ctx.policy.maxAgeDays },
        ),
      );
    }
  }
  return out;
};

/**
 * When the image was built: the config's `created`, else the newest history date. Reproducible
 * builds stamp 1970-01-01 (SOURCE_DATE_EPOCH=0); such a date says nothing and is skipped.
 */
export function imageCreated(facts: ImageFacts): { date: Date; text: string; from: string } | null {
  const usable = (t: string | undefined) => {
    if (!t) return null;
    const d = new Date(t);
    return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1990 ? null : d;
  };
  const c = usable(facts.config.created);
  if (c) return { date: c, text: facts.config.created!, from: "config created" };
  let newest: { date: Date; text: string } | null = null;
  for (const h of facts.history) {
    const d = usable(h.created);
    if (d && (!newest || d > newest.date)) newest = { date: d, text: h.created! };
  }
  return newest ? { ...newest, from: "newest history entry" } : null;
}
