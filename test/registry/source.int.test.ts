import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCoded } from "../../src/errors.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { parseReference } from "../../src/reference/parse.js";
import { MemoryTokenCache, type RegistrySource, staticCredentials } from "../../src/registry/index.js";
import {
  attachCosignAttestation,
  attachSigstoreBundle,
  MT,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed, TOKEN_USER } from "../support/testbed.js";
import { lines, repeated, sourceFor, tagOf } from "./helpers.js";

const testbed = getTestbed();
const key = generateKeyPairSync("ed25519").privateKey;

async function gatherError(source: RegistrySource, ref: string): Promise<unknown> {
  try {
    await source.gather(parseReference(ref));
  } catch (err) {
    return err;
  }
  throw new Error(`gathering ${ref} succeeded, an error was expected`);
}

const messageSignatureBundle = {
  mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
  verificationMaterial: { publicKey: { hint: "test" } },
  messageSignature: { messageDigest: { algorithm: "SHA2_256", digest: "AA==" }, signature: "AA==" },
};

describe("RegistrySource", () => {
  describe("when the tag names a single-platform image", () => {
    let proxy: RecordingProxy;
    let repo: string;
    let image: Awaited<ReturnType<typeof pushImage>>;
    let facts: ImageFacts;

    beforeAll(async () => {
      repo = randomRepo("single");
      image = await pushImage(
        testbed.open,
        repo,
        {
          config: {
            User: "app:app",
            Env: ["PATH=/usr/bin", "MODE=prod"],
            Labels: { "org.opencontainers.image.source": "https://github.com/acme/app" },
            ExposedPorts: { "8080/tcp": {} },
            Volumes: { "/data": {} },
            Healthcheck: { Test: ["CMD", "true"], Interval: 30_000_000_000 },
            Entrypoint: ["/app"],
            Cmd: ["--serve"],
            WorkingDir: "/srv",
          },
          created: "2024-05-01T00:00:00Z",
          history: [
            { created_by: "ADD rootfs.tar / # buildkit" },
            { created_by: "USER app:app", empty_layer: true },
          ],
          annotations: { "org.opencontainers.image.revision": "abc123" },
        },
        "1.0",
      );
      proxy = await startProxy(testbed.open.host);
      const source = sourceFor([proxy.host]);
      facts = await source.gather(parseReference(`${proxy.host}/${repo}:1.0`));
      source.close();
    });
    afterAll(() => proxy.stop());

    it("reads the manifest and config into the facts", () => {
      expect(facts.digest).toBe(image.digest);
      expect(facts.manifestDigest).toBe(image.digest);
      expect(facts.mediaType).toBe(MT.ociManifest);
      expect(facts.configDigest).toBe(image.configDigest);
      expect(facts.platform).toEqual({ os: "linux", architecture: "amd64" });
      expect(facts.platforms).toEqual([{ os: "linux", architecture: "amd64" }]);
      expect(facts.config).toMatchObject({
        user: "app:app",
        env: ["PATH=/usr/bin", "MODE=prod"],
        labels: { "org.opencontainers.image.source": "https://github.com/acme/app" },
        exposedPorts: ["8080/tcp"],
        volumes: ["/data"],
        healthcheck: { test: ["CMD", "true"], intervalNs: 30_000_000_000 },
        entrypoint: ["/app"],
        cmd: ["--serve"],
        workingDir: "/srv",
        created: "2024-05-01T00:00:00Z",
      });
      expect(facts.history).toEqual([
        { createdBy: "ADD rootfs.tar / # buildkit", emptyLayer: false },
        { createdBy: "USER app:app", emptyLayer: true },
      ]);
      expect(facts.layers).toEqual([
        { digest: image.layers[0]!.digest, size: image.layers[0]!.size, mediaType: MT.ociLayerGzip },
      ]);
      expect(facts.compressedSize).toBe(image.layers[0]!.size);
      expect(facts.annotations).toEqual({ "org.opencontainers.image.revision": "abc123" });
      expect(facts.signatures).toEqual([]);
      expect(facts.attestations).toEqual([]);
      expect(facts.incomplete).toEqual([]);
    });

    it("asks for the manifest and config once each, and GETs the signature, attestation and fallback tags", () => {
      const m = `/v2/${repo}/manifests`;
      expect(lines(proxy.requests).sort()).toEqual(
        [
          `GET ${m}/1.0`,
          `GET /v2/${repo}/blobs/${image.configDigest}`,
          `GET ${m}/${tagOf(image.digest, ".sig")}`,
          `GET ${m}/${tagOf(image.digest, ".att")}`,
          `GET ${m}/${tagOf(image.digest)}`,
          `GET /v2/${repo}/referrers/${image.digest}`,
        ].sort(),
      );
      expect(facts.stats.requests).toBe(proxy.requests.length);
      expect(facts.stats.byKind).toEqual({
        "GET manifest": 4,
        "GET blob": 1,
        "GET referrers": 1,
      });
    });
  });

  describe("when the token is warm", () => {
    let proxy: RecordingProxy;
    let repo: string;
    let second: Awaited<ReturnType<typeof pushImage>>;
    let warm: ImageFacts;
    let cold: ImageFacts;
    let coldRequests: string[];

    beforeAll(async () => {
      repo = randomRepo("warm");
      await pushImage(testbed.token, repo, { config: { User: "1" } }, "a");
      second = await pushImage(testbed.token, repo, { config: { User: "2" } }, "b");
      proxy = await startProxy(testbed.token.host);
      const source = sourceFor([proxy.host], {
        // The realm is plain http on another port: the policy must list it for credentials to go there.
        allowInsecure: [proxy.host, new URL(testbed.token.tokenRealm!).host],
        credentials: staticCredentials({
          [proxy.host]: { username: TOKEN_USER.username, password: TOKEN_USER.password },
        }),
        tokenCache: new MemoryTokenCache(),
      });
      cold = await source.gather(parseReference(`${proxy.host}/${repo}:a`));
      coldRequests = lines(proxy.requests);
      proxy.reset();
      warm = await source.gather(parseReference(`${proxy.host}/${repo}:b`));
      source.close();
    });
    afterAll(() => proxy.stop());

    it("costs a token request only when cold", () => {
      expect(cold.stats.byKind["GET token"]).toBe(1);
      expect(coldRequests.filter((l) => l.startsWith("GET ") && l.includes("/manifests/a"))).toHaveLength(2);
      expect(warm.stats.byKind["GET token"]).toBeUndefined();
    });

    it("costs five GETs, no path twice, and no referrers call once the registry is known not to have the API", () => {
      const m = `/v2/${repo}/manifests`;
      expect(lines(proxy.requests).sort()).toEqual(
        [
          `GET ${m}/b`,
          `GET /v2/${repo}/blobs/${second.configDigest}`,
          `GET ${m}/${tagOf(second.digest, ".sig")}`,
          `GET ${m}/${tagOf(second.digest, ".att")}`,
          `GET ${m}/${tagOf(second.digest)}`,
        ].sort(),
      );
      expect(repeated(proxy.requests)).toEqual([]);
      expect(warm.stats.requests).toBe(5);
      expect(warm.config.user).toBe("2");
    });
  });

  describe("when the tag names a multi-platform index with attestations and signatures", () => {
    let proxy: RecordingProxy;
    let repo: string;
    let index: Awaited<ReturnType<typeof pushIndex>>;
    let facts: ImageFacts;
    let sig: Awaited<ReturnType<typeof signCosign>>;

    beforeAll(async () => {
      repo = randomRepo("multi");
      index = await pushIndex(
        testbed.open,
        repo,
        {
          images: [
            { spec: { config: { User: "amd" } }, platform: { os: "linux", architecture: "amd64" } },
            {
              spec: { config: { User: "arm" } },
              platform: { os: "linux", architecture: "arm64", variant: "v8" },
            },
          ],
          attestations: true,
          annotations: { "org.opencontainers.image.version": "2.0" },
        },
        "2.0",
      );
      sig = await signCosign(testbed.open, repo, index.digest, key);
      await attachCosignAttestation(testbed.open, repo, index.digest, {
        _type: "https://in-toto.io/Statement/v1",
        predicateType: "https://slsa.dev/provenance/v1",
        subject: [{ name: repo, digest: { sha256: index.digest.slice(7) } }],
        predicate: {},
      });
      const arm = index.images[1]!;
      await attachSigstoreBundle(testbed.open, repo, arm, messageSignatureBundle);
      proxy = await startProxy(testbed.open.host);
      const source = sourceFor([proxy.host]);
      facts = await source.gather(parseReference(`${proxy.host}/${repo}:2.0`), {
        platform: { os: "linux", architecture: "arm64" },
      });
      source.close();
    });
    afterAll(() => proxy.stop());

    it("resolves to the requested platform's manifest and config", () => {
      const arm = index.images[1]!;
      expect(facts.digest).toBe(index.digest);
      expect(facts.mediaType).toBe(MT.ociIndex);
      expect(facts.manifestDigest).toBe(arm.digest);
      expect(facts.configDigest).toBe(arm.configDigest);
      expect(facts.config.user).toBe("arm");
      expect(facts.platform).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
      expect(facts.platforms).toEqual([
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ]);
      expect(facts.indexAnnotations).toEqual({ "org.opencontainers.image.version": "2.0" });
    });

    it("finds the BuildKit attestations for that platform, with their statements", () => {
      const buildkit = facts.attestations.filter((a) => a.kind === "buildkit");
      expect(buildkit).toHaveLength(1);
      expect(buildkit[0]!.subjectDigest).toBe(index.images[1]!.digest);
      expect(buildkit[0]!.manifestDigest).toBe(index.attestationManifests[1]!.digest);
      expect(buildkit[0]!.predicateTypes.sort()).toEqual([
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
      ]);
      const statement = JSON.parse(Buffer.from(buildkit[0]!.blobs[0]!.data, "base64").toString("utf8"));
      expect(statement.subject[0].digest.sha256).toBe(index.images[1]!.digest.slice(7));
    });

    it("finds the cosign signature and attestation of the index and the bundle of the platform manifest", () => {
      const cosign = facts.signatures.find((s) => s.kind === "cosign");
      expect(cosign).toMatchObject({
        foundVia: `tag:${tagOf(index.digest, ".sig")}`,
        subjectDigest: index.digest,
        manifestDigest: sig.manifestDigest,
      });
      expect(Buffer.from(cosign!.blobs[0]!.data, "base64").equals(sig.payload)).toBe(true);
      expect(cosign!.blobs[0]!.annotations["dev.cosignproject.cosign/signature"]).toBe(sig.signature);
      const bundle = facts.signatures.find((s) => s.kind === "sigstore-bundle");
      expect(bundle).toMatchObject({
        foundVia: `fallback-index:${tagOf(index.images[1]!.digest)}`,
        subjectDigest: index.images[1]!.digest,
      });
      const att = facts.attestations.find((a) => a.kind === "cosign-att");
      expect(att).toMatchObject({
        subjectDigest: index.digest,
        predicateTypes: ["https://slsa.dev/provenance/v1"],
      });
      expect(facts.incomplete).toEqual([]);
    });

    it("fetches no layer blob, nothing of the other platform, and nothing twice", () => {
      const paths = proxy.requests.map((r) => r.path);
      const forbidden = [
        ...index.images.flatMap((i) => i.layers.map((l) => l.digest)),
        index.images[0]!.digest,
        index.images[0]!.configDigest,
        index.attestationManifests[0]!.digest,
      ];
      for (const digest of forbidden) expect(paths.filter((p) => p.endsWith(digest))).toEqual([]);
      expect(repeated(proxy.requests)).toEqual([]);
    });
  });

  describe("when the index has no image for the platform", () => {
    it("fails with PLATFORM_NOT_FOUND naming what is available", async () => {
      const repo = randomRepo("platform");
      await pushIndex(
        testbed.open,
        repo,
        { images: [{ spec: {}, platform: { os: "linux", architecture: "amd64" } }] },
        "x",
      );
      const source = sourceFor([testbed.open.host]);
      let caught: unknown;
      try {
        await source.gather(parseReference(`${testbed.open.host}/${repo}:x`), {
          platform: { os: "linux", architecture: "s390x" },
        });
      } catch (err) {
        caught = err;
      }
      source.close();
      expect(isCoded(caught, "PLATFORM_NOT_FOUND")).toBe(true);
      expect((caught as Error).message).toContain("linux/amd64");
    });
  });

  describe("when the registry serves bytes that do not match the digest", () => {
    let repo: string;
    let image: Awaited<ReturnType<typeof pushImage>>;
    beforeAll(async () => {
      repo = randomRepo("tamper");
      image = await pushImage(testbed.open, repo, { mediaTypes: "docker" }, "t");
    });

    const tampered = (match: (path: string) => boolean) =>
      startProxy(testbed.open.host, {
        tamper: (req, body) =>
          req.method === "GET" && match(req.path) ? Buffer.concat([body, Buffer.from(" ")]) : undefined,
      });

    it.each([
      ["a manifest by tag", () => `t`, (p: string) => p.endsWith("/manifests/t")],
      [
        "a manifest by digest",
        () => `@${image.digest}`,
        (p: string) => p.endsWith(`/manifests/${image.digest}`),
      ],
      ["the config", () => "t", (p: string) => p.endsWith(`/blobs/${image.configDigest}`)],
    ])("fails with DIGEST_MISMATCH for %s", async (_what, suffix, match) => {
      const proxy = await tampered(match);
      const source = sourceFor([proxy.host]);
      const s = suffix();
      const ref = s.startsWith("@") ? `${proxy.host}/${repo}${s}` : `${proxy.host}/${repo}:${s}`;
      const err = await gatherError(source, ref);
      source.close();
      await proxy.stop();
      expect(isCoded(err, "DIGEST_MISMATCH")).toBe(true);
    });

    it("fails with DIGEST_MISMATCH for a signature blob too, although look-up failures are otherwise tolerated", async () => {
      const signed = await signCosign(testbed.open, repo, image.digest, key);
      const payloadDigest = `sha256:${(await import("node:crypto")).createHash("sha256").update(signed.payload).digest("hex")}`;
      const proxy = await tampered((p) => p.endsWith(`/blobs/${payloadDigest}`));
      const source = sourceFor([proxy.host]);
      const err = await gatherError(source, `${proxy.host}/${repo}:t`);
      source.close();
      await proxy.stop();
      expect(isCoded(err, "DIGEST_MISMATCH")).toBe(true);
    });
  });

  describe("when a signature look-up fails", () => {
    it("records the part as incomplete and still returns the facts", async () => {
      const repo = randomRepo("incomplete");
      await pushImage(testbed.open, repo, {}, "i");
      const proxy = await startProxy(testbed.open.host, {
        respond: (req) => (req.path.endsWith(".sig") ? { status: 503, body: "" } : undefined),
      });
      const source = sourceFor([proxy.host]);
      const facts = await source.gather(parseReference(`${proxy.host}/${repo}:i`));
      source.close();
      await proxy.stop();
      expect(facts.incomplete).toEqual([
        expect.objectContaining({ part: "signatures", code: "SERVER_ERROR" }),
      ]);
      expect(facts.configDigest).toMatch(/^sha256:/);
    });
  });

  describe("when the reference pins a digest and names a tag", () => {
    it("fetches by digest and records where the tag points now", async () => {
      const repo = randomRepo("pinned");
      const old = await pushImage(testbed.open, repo, { config: { User: "old" } }, "v1");
      const moved = await pushImage(testbed.open, repo, { config: { User: "new" } }, "v1");
      const source = sourceFor([testbed.open.host]);
      const facts = await source.gather(parseReference(`${testbed.open.host}/${repo}:v1@${old.digest}`), {
        listTags: true,
      });
      source.close();
      expect(facts.digest).toBe(old.digest);
      expect(facts.config.user).toBe("old");
      expect(facts.registryInfo?.tagDigest).toBe(moved.digest);
      expect(facts.registryInfo?.tags).toContain("v1");
    });
  });

  describe("when the registry implements the referrers API", () => {
    it("uses its answer", async () => {
      const repo = randomRepo("refapi");
      const image = await pushImage(testbed.open, repo, {}, "r");
      const attached = await attachSigstoreBundle(testbed.open, repo, image, messageSignatureBundle);
      const index = {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          {
            mediaType: MT.ociManifest,
            digest: attached.manifestDigest,
            size: attached.manifestBytes.length,
            artifactType: MT.sigstoreBundle,
          },
          {
            mediaType: MT.ociManifest,
            digest: `sha256:${"0".repeat(64)}`,
            size: 10,
            artifactType: "application/x-unrelated",
          },
        ],
      };
      const proxy = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.path.includes("/referrers/")
            ? { status: 200, headers: { "content-type": MT.ociIndex }, body: JSON.stringify(index) }
            : undefined,
      });
      const source = sourceFor([proxy.host]);
      const facts = await source.gather(parseReference(`${proxy.host}/${repo}:r`));
      source.close();
      await proxy.stop();
      expect(facts.signatures).toEqual([
        expect.objectContaining({
          kind: "sigstore-bundle",
          foundVia: "referrers",
          manifestDigest: attached.manifestDigest,
        }),
      ]);
      // The unrelated artifact type is not fetched.
      expect(proxy.requests.some((r) => r.path.endsWith("0".repeat(64)))).toBe(false);
    });
  });
  describe("when the registry sends Docker Hub's rate-limit headers", () => {
    it("keeps them in the facts", async () => {
      const repo = randomRepo("ratelimit");
      const image = await pushImage(testbed.open, repo, {}, "1");
      const proxy = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.method === "GET" && req.path.endsWith("/manifests/1")
            ? {
                status: 200,
                headers: {
                  "content-type": MT.ociManifest,
                  "docker-content-digest": image.digest,
                  "ratelimit-limit": "100;w=21600",
                  "ratelimit-remaining": "76;w=21600",
                  "docker-ratelimit-source": "203.0.113.9",
                },
                body: image.manifestBytes,
              }
            : undefined,
      });
      const source = sourceFor([proxy.host]);
      const facts = await source.gather(parseReference(`${proxy.host}/${repo}:1`));
      source.close();
      await proxy.stop();
      expect(facts.registryInfo?.rateLimit).toEqual({
        limit: "100;w=21600",
        remaining: "76;w=21600",
        source: "203.0.113.9",
      });
    });
  });
});
