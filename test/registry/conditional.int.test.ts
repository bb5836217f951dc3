// Conditional manifest requests, proved from the wire against Debian's docker-registry 2.8: a
// re-gather that names the digest the tag should still name sends If-None-Match when the source
// holds that manifest, the registry answers 304 Not Modified, and the facts are those of a full
// gather for the same number of requests. A source that holds nothing asks plainly; a moved tag
// is read in full; a registry whose 304 contradicts itself is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageFacts } from "../../src/facts/model.js";
import { parseReference } from "../../src/reference/parse.js";
import { ManifestCache } from "../../src/registry/manifest-cache.js";
import { pushImage, pushIndex, randomRepo } from "../support/image-builder.js";
import { type RecordedRequest, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { codeOf, sourceFor } from "./helpers.js";

const testbed = getTestbed();

/** The GETs of `repo`'s manifest by `tag`. */
function tagGets(requests: RecordedRequest[], repo: string, tag: string): RecordedRequest[] {
  return requests.filter((r) => r.method === "GET" && r.path === `/v2/${repo}/manifests/${tag}`);
}

/** The parts of the facts a conditional gather must reproduce exactly. */
function image(f: ImageFacts) {
  return {
    digest: f.digest,
    mediaType: f.mediaType,
    manifestDigest: f.manifestDigest,
    configDigest: f.configDigest,
    platform: f.platform,
    layers: f.layers,
    config: f.config,
    incomplete: f.incomplete,
  };
}

describe("a gather that knows the digest the tag should name", () => {
  let proxy: RecordingProxy;
  let repo: string;
  const ref = (tag: string) => parseReference(`${proxy.host}/${repo}:${tag}`);

  beforeAll(async () => {
    proxy = await startProxy(testbed.open.host);
    repo = randomRepo("conditional");
    const config = { User: "10001", Labels: { "org.opencontainers.image.source": "https://example.test/x" } };
    await pushImage(testbed.open, repo, { config }, "single");
    await pushIndex(
      testbed.open,
      repo,
      {
        images: [
          { spec: { config }, platform: { os: "linux", architecture: "amd64" } },
          { spec: { config }, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      },
      "multi",
    );
    await pushImage(testbed.open, repo, { config }, "moving");
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  describe.each([
    ["a single-platform image", "single"],
    ["a multi-platform index", "multi"],
  ])("when the source already fetched it (%s)", (_name, tag) => {
    let full: ImageFacts;
    let again: ImageFacts;
    let fullRequests: RecordedRequest[];
    let againRequests: RecordedRequest[];

    beforeAll(async () => {
      const source = sourceFor([proxy.host]);
      // A source's first gather learns whether the registry has the referrers API; the
      // comparison is between two gathers of a process past that, as serve's checks are.
      await source.gather(ref(tag));
      proxy.reset();
      full = await source.gather(ref(tag));
      fullRequests = [...proxy.requests];
      proxy.reset();
      again = await source.gather(ref(tag), { knownDigest: full.digest });
      againRequests = [...proxy.requests];
      source.close();
    });

    it("asks with If-None-Match naming the digest in quotes, and Debian's registry 2.8 answers 304", () => {
      expect(tagGets(fullRequests, repo, tag)).toEqual([expect.objectContaining({ status: 200 })]);
      expect(tagGets(fullRequests, repo, tag)[0]!.ifNoneMatch).toBeUndefined();
      expect(tagGets(againRequests, repo, tag)).toEqual([
        expect.objectContaining({ status: 304, ifNoneMatch: `"${full.digest}"` }),
      ]);
    });

    it("gathers the same facts, for no more requests than the full gather and fewer bytes", () => {
      process.stdout.write(
        `${tag}: full gather ${fullRequests.length} requests / ${full.stats.bytes} bytes, conditional ${againRequests.length} requests / ${again.stats.bytes} bytes\n`,
      );
      expect(image(again)).toEqual(image(full));
      expect(againRequests.length).toBe(fullRequests.length);
      expect(again.stats.requests).toBe(full.stats.requests);
      expect(again.stats.bytes).toBeLessThan(full.stats.bytes);
    });
  });

  describe("when the source holds nothing yet (a fresh process: cron's watch --once)", () => {
    it("asks without the header and reads the manifest in full", async () => {
      const digest = (await sourceFor([proxy.host]).gather(ref("single"))).digest;
      const fresh = sourceFor([proxy.host]);
      proxy.reset();
      const facts = await fresh.gather(ref("single"), { knownDigest: digest });
      fresh.close();
      expect(facts.digest).toBe(digest);
      const gets = tagGets(proxy.requests, repo, "single");
      expect(gets).toEqual([expect.objectContaining({ status: 200 })]);
      expect(gets[0]!.ifNoneMatch).toBeUndefined();
    });
  });

  describe("when the tag moved since", () => {
    it("sends the header, gets the new manifest in full, and names the new digest", async () => {
      const source = sourceFor([proxy.host]);
      const before = await source.gather(ref("moving"));
      const moved = await pushImage(testbed.open, repo, { config: { User: "20002" } }, "moving");
      proxy.reset();
      const after = await source.gather(ref("moving"), { knownDigest: before.digest });
      source.close();
      expect(tagGets(proxy.requests, repo, "moving")).toEqual([
        expect.objectContaining({ status: 200, ifNoneMatch: `"${before.digest}"` }),
      ]);
      expect(after.digest).toBe(moved.digest);
      expect(after.config.user).toBe("20002");
    });
  });

  describe("when a registry's 304 names another digest than the one asked about", () => {
    it("refuses it (BAD_RESPONSE) instead of using the manifest it holds", async () => {
      const other = `sha256:${"0".repeat(64)}`;
      const liar = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.headers["if-none-match"] ? { status: 304, headers: { etag: `"${other}"` } } : undefined,
      });
      try {
        const cache = new ManifestCache();
        const source = sourceFor([liar.host], { manifestCache: cache });
        const liarRef = parseReference(`${liar.host}/${repo}:single`);
        const first = await source.gather(liarRef);
        expect(await codeOf(source.gather(liarRef, { knownDigest: first.digest }))).toBe("BAD_RESPONSE");
        source.close();
      } finally {
        await liar.stop();
      }
    });
  });

  describe("when a registry answers 304 to a request that did not ask", () => {
    it("fails the gather (BAD_RESPONSE) rather than reading an empty manifest", async () => {
      const rude = await startProxy(testbed.open.host, {
        respond: (req) => (req.path.includes("/manifests/") ? { status: 304 } : undefined),
      });
      try {
        const source = sourceFor([rude.host]);
        const code = await codeOf(source.gather(parseReference(`${rude.host}/${repo}:single`)));
        source.close();
        expect(code).toBe("BAD_RESPONSE");
      } finally {
        await rude.stop();
      }
    });
  });
});
