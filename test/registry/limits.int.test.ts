// A hostile registry, crafted in front of the real one by the recording proxy: an index naming
// thousands of attestation manifests, attestations larger than the budget, hundreds of referrers.
// Each case proves from the wire that one gather stays bounded in requests, bytes and sockets, and
// that it says what it left out (TOO_LARGE in `incomplete`) rather than failing or judging a part.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ImageFacts } from "../../src/facts/model.js";
import { parseReference } from "../../src/reference/parse.js";
import { ARTIFACT_LIMITS } from "../../src/registry/artifacts.js";
import { LIMITS } from "../../src/registry/index.js";
import { descriptorOf, MT, pushImage, randomRepo, sha256 } from "../support/image-builder.js";
import { type ProxyResponse, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { sourceFor } from "./helpers.js";

const testbed = getTestbed();
const MiB = 1024 * 1024;

interface Blob {
  digest: string;
  size: number;
  /** Made when served, so megabytes of test blobs are not all held at once. */
  bytes: () => Buffer;
}

/** Artifacts the proxy serves by digest; everything else goes to the real registry. */
class Hostile {
  readonly manifests = new Map<string, Buffer>();
  readonly blobs = new Map<string, Blob>();
  /** Artifact requests this registry answered, and the most it had in flight at once. */
  served = 0;
  bytesServed = 0;
  maxInFlight = 0;
  private inFlight = 0;

  /** A blob made by `bytes` (which must make the same bytes each time). */
  blob(bytes: () => Buffer): Blob {
    const made = bytes();
    const blob = { digest: sha256(made), size: made.length, bytes };
    this.blobs.set(blob.digest, blob);
    return blob;
  }

  /** An artifact manifest over `layers`; returns its descriptor. */
  manifest(layers: Blob[], extra: Record<string, unknown> = {}) {
    const config = this.blob(() => Buffer.from("{}"));
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({
          mediaType: MT.inToto,
          digest: l.digest,
          size: l.size,
          annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v1" },
        })),
        ...extra,
      }),
    );
    const digest = sha256(bytes);
    this.manifests.set(digest, bytes);
    return { mediaType: MT.ociManifest, digest, size: bytes.length };
  }

  /** The proxy's `respond` hook: crafted artifacts, held a moment so overlapping requests show. */
  async respond(path: string): Promise<ProxyResponse | undefined> {
    const digest = path.slice(path.lastIndexOf("/") + 1);
    const manifest = path.includes("/manifests/") ? this.manifests.get(digest) : undefined;
    const blob = path.includes("/blobs/") ? this.blobs.get(digest) : undefined;
    if (!manifest && !blob) return undefined;
    this.served++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.inFlight--;
    const body = manifest ?? blob!.bytes();
    this.bytesServed += body.length;
    return {
      status: 200,
      headers: {
        "content-type": manifest ? MT.ociManifest : "application/octet-stream",
        "docker-content-digest": digest,
      },
      body,
    };
  }
}

/** An index over `image` (linux/amd64) and `attestations`, each an attestation manifest for it. */
function indexOf(
  image: { digest: string; mediaType: string; size: number },
  attestations: { digest: string }[],
) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { ...descriptorOf(image), platform: { os: "linux", architecture: "amd64" } },
        ...attestations.map((a) => ({
          ...a,
          annotations: {
            "vnd.docker.reference.digest": image.digest,
            "vnd.docker.reference.type": "attestation-manifest",
          },
          platform: { os: "unknown", architecture: "unknown" },
        })),
      ],
    }),
  );
}

const proxies: RecordingProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

/** Gather `tag` of `repo` through a proxy serving `hostile` and, for `extra` paths, what it says. */
async function gatherThrough(
  hostile: Hostile,
  repo: string,
  tag: string,
  extra: (path: string) => ProxyResponse | undefined,
): Promise<{ facts: ImageFacts; proxy: RecordingProxy }> {
  const proxy = await startProxy(testbed.open.host, {
    respond: (req) => (req.method === "GET" ? (extra(req.path) ?? hostile.respond(req.path)) : undefined),
  });
  proxies.push(proxy);
  const source = sourceFor([proxy.host]);
  try {
    return { facts: await source.gather(parseReference(`${proxy.host}/${repo}:${tag}`)), proxy };
  } finally {
    source.close();
  }
}

function tooLarge(facts: ImageFacts, part: string) {
  return facts.incomplete.filter((p) => p.part === part && p.code === "TOO_LARGE");
}

describe("the limits on one gather's signatures and attestations", () => {
  let repo: string;
  let image: Awaited<ReturnType<typeof pushImage>>;

  beforeAll(async () => {
    repo = randomRepo("limits");
    image = await pushImage(testbed.open, repo, { config: { User: "bounded" } }, "1");
  });

  describe("when an index names thousands of attestation manifests for the platform", () => {
    it("reads only the first few, bounds the requests, and records the attestations as incomplete", async () => {
      const hostile = new Hostile();
      const attestations = Array.from({ length: 2000 }, (_, i) =>
        hostile.manifest(
          Array.from({ length: 8 }, (_, j) => hostile.blob(() => Buffer.from(`statement ${i}/${j}`))),
        ),
      );
      const index = indexOf(image, attestations);
      expect(index.length).toBeLessThan(LIMITS.manifestBytes);
      const { facts, proxy } = await gatherThrough(hostile, repo, "many", (path) =>
        path.endsWith("/manifests/many")
          ? { status: 200, headers: { "content-type": MT.ociIndex }, body: index }
          : undefined,
      );

      const most = ARTIFACT_LIMITS.attestationManifestsPerImage;
      expect(facts.config.user).toBe("bounded");
      expect(facts.attestations.filter((a) => a.kind === "buildkit")).toHaveLength(most);
      expect(tooLarge(facts, "attestations")).toHaveLength(1);
      const attestationGets = proxy.requests.filter((r) =>
        attestations.some((a) => r.path.endsWith(`/manifests/${a.digest}`)),
      );
      expect(attestationGets).toHaveLength(most);
      // The index, the platform manifest, its config, three tag GETs and a referrers GET per subject,
      // and each attestation manifest read with its blobs.
      const bound = 3 + 2 * 4 + most * (1 + ARTIFACT_LIMITS.blobsPerArtifact);
      expect(proxy.requests.length).toBeLessThanOrEqual(bound);
    });
  });

  describe("when the attestations are larger than the byte budget", () => {
    it("stops fetching at the budget, a few at a time, and records the attestations as incomplete", async () => {
      const hostile = new Hostile();
      // 4 attestation manifests of 8 distinct 2 MiB statements: 64 MiB declared.
      const attestations = Array.from({ length: 4 }, (_, i) =>
        hostile.manifest(
          Array.from({ length: 8 }, (_, j) => hostile.blob(() => Buffer.alloc(2 * MiB, i * 8 + j))),
        ),
      );
      const index = indexOf(image, attestations);
      const { facts } = await gatherThrough(hostile, repo, "large", (path) =>
        path.endsWith("/manifests/large")
          ? { status: 200, headers: { "content-type": MT.ociIndex }, body: index }
          : undefined,
      );

      expect(facts.config.user).toBe("bounded");
      expect(tooLarge(facts, "attestations")).toHaveLength(1);
      expect(hostile.bytesServed).toBeLessThanOrEqual(LIMITS.artifactBudgetBytes);
      expect(hostile.maxInFlight).toBeLessThanOrEqual(LIMITS.artifactConcurrency);
      const kept = facts.attestations.flatMap((a) => a.blobs).reduce((n, b) => n + b.size, 0);
      expect(kept).toBeLessThanOrEqual(LIMITS.artifactBudgetBytes);
    });
  });

  describe("when the referrers API lists hundreds of referrers", () => {
    it("reads a bounded number of them, a few at a time, and records what it left out", async () => {
      const hostile = new Hostile();
      const subject = descriptorOf(image);
      const referrers = Array.from({ length: 300 }, (_, i) => ({
        ...hostile.manifest(
          Array.from({ length: 8 }, (_, j) => hostile.blob(() => Buffer.from(`signature ${i}/${j}`))),
          { artifactType: MT.notarySignature, subject },
        ),
        artifactType: MT.notarySignature,
      }));
      const listing = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: referrers });
      const { facts } = await gatherThrough(hostile, repo, "1", (path) =>
        path.endsWith(`/referrers/${image.digest}`)
          ? { status: 200, headers: { "content-type": MT.ociIndex }, body: listing }
          : undefined,
      );

      expect(facts.config.user).toBe("bounded");
      expect(hostile.served).toBeLessThanOrEqual(LIMITS.artifactRequests);
      // All 32 referrer manifests are wanted at once; only a few are asked for at a time.
      expect(hostile.maxInFlight).toBeLessThanOrEqual(LIMITS.artifactConcurrency);
      expect(facts.signatures.length).toBeGreaterThan(0);
      expect(tooLarge(facts, "referrers")).toHaveLength(1);
      expect(tooLarge(facts, "signatures")).toHaveLength(1);
    });
  });
});

describe("a signature manifest with more layers than are read", () => {
  it("is refused whole and recorded as incomplete, never judged on part of its layers", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const { signCosign } = await import("../support/image-builder.js");
    const repo = randomRepo("limits");
    const image = await pushImage(testbed.open, repo, {}, "1.0");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    // cosign appends one layer per signature to the same .sig manifest.
    for (let i = 0; i <= ARTIFACT_LIMITS.blobsPerArtifact; i++) {
      await signCosign(testbed.open, repo, image.digest, privateKey);
    }
    const facts = await sourceFor([testbed.open.host]).gather(
      parseReference(`${testbed.open.host}/${repo}:1.0`),
    );
    expect(facts.signatures).toEqual([]);
    expect(facts.incomplete).toContainEqual(
      expect.objectContaining({ part: "signatures", code: "TOO_LARGE" }),
    );
  });
});

describe("a manifest read by tag without a HEAD first", () => {
  it.each([
    ["a cosign .sig manifest", ".sig", "signatures", ARTIFACT_LIMITS.tagManifestBytes],
    ["the referrers fallback index", "", "referrers", ARTIFACT_LIMITS.fallbackIndexBytes],
  ] as const)(
    "%s is capped before its body is read, and recorded as incomplete",
    async (_what, suffix, part, cap) => {
      const repo = randomRepo("limits");
      const image = await pushImage(testbed.open, repo, {}, "1.0");
      const tag = `${image.digest.replace(":", "-")}${suffix}`;
      const huge = Buffer.alloc(cap + 1, 0x20);
      let served = 0;
      const proxy = await startProxy(testbed.open.host, {
        respond: (req) => {
          if (!req.path.endsWith(`/manifests/${tag}`)) return undefined;
          served++;
          return {
            status: 200,
            headers: { "content-type": suffix ? MT.ociManifest : MT.ociIndex },
            body: huge,
          };
        },
      });
      proxies.push(proxy);
      const source = sourceFor([proxy.host]);
      try {
        const facts = await source.gather(parseReference(`${proxy.host}/${repo}:1.0`));
        expect(served).toBe(1);
        expect(
          proxy.requests.filter((r) => r.path.endsWith(`/manifests/${tag}`)).map((r) => r.method),
        ).toEqual(["GET"]);
        expect(tooLarge(facts, part)).toHaveLength(1);
        // Refused from its Content-Length: nothing of the body counted as read.
        expect(facts.stats.bytes).toBeLessThan(cap);
      } finally {
        source.close();
      }
    },
  );
});
