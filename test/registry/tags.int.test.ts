// The tag list (`inspect --tags`) is bounded: at most LIMITS.tagsTotal tags, LIMITS.tagPages pages
// and LIMITS.tagsBytes a page, and it says when it was cut (registryInfo.tagsTruncated). A hostile
// registry in front of the real one (the recording proxy) serves the tag pages.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import { LIMITS } from "../../src/registry/index.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { type ProxyRequest, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { sourceFor } from "./helpers.js";

const testbed = getTestbed();
const proxies: RecordingProxy[] = [];
let repo: string;

beforeAll(async () => {
  repo = randomRepo("tags");
  await pushImage(testbed.open, repo, { config: { User: "app" } }, "1");
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

/** A registry whose tag list pages are `page(n)` (n from 1), each linking to the next. */
async function tagPages(page: (n: number) => string[] | Buffer): Promise<RecordingProxy> {
  let served = 0;
  const p = await startProxy(testbed.open.host, {
    respond: (req: ProxyRequest) => {
      if (!req.path.endsWith("/tags/list")) return undefined;
      served++;
      const body = page(served);
      return {
        status: 200,
        headers: { "content-type": "application/json", link: `<${req.path}?last=${served}>; rel="next"` },
        body: Buffer.isBuffer(body) ? body : JSON.stringify({ name: repo, tags: body }),
      };
    },
  });
  proxies.push(p);
  return p;
}

async function listed(p: RecordingProxy) {
  const source = sourceFor([p.host]);
  const facts = await source
    .gather(parseReference(`${p.host}/${repo}:1`), { listTags: true })
    .finally(() => source.close());
  return { info: facts.registryInfo, requests: p.requests.filter((r) => r.path.endsWith("/tags/list")) };
}

describe("the tag list", () => {
  describe("when one page holds far more tags than are listed", () => {
    it("keeps the first LIMITS.tagsTotal, says it is truncated, and asks for no other page", async () => {
      const p = await tagPages(() => Array.from({ length: 300_000 }, (_, i) => `t${i}`));
      const { info, requests } = await listed(p);
      expect(info?.tags).toHaveLength(LIMITS.tagsTotal);
      expect(info?.tags?.[0]).toBe("t0");
      expect(info?.tagsTruncated).toBe(true);
      expect(requests).toHaveLength(1);
    });
  });

  describe("when the pages never end", () => {
    it("stops after LIMITS.tagPages pages and says it is truncated", async () => {
      const p = await tagPages((n) => [`page-${n}`]);
      const { info, requests } = await listed(p);
      expect(requests).toHaveLength(LIMITS.tagPages);
      expect(info?.tags).toHaveLength(LIMITS.tagPages);
      expect(info?.tagsTruncated).toBe(true);
    });
  });

  describe("when a later page is over the byte cap", () => {
    it("keeps the pages before it and says it is truncated", async () => {
      const p = await tagPages((n) =>
        n === 1 ? ["a", "b"] : Buffer.from(JSON.stringify({ tags: ["x".repeat(LIMITS.tagsBytes)] })),
      );
      const { info } = await listed(p);
      expect(info?.tags).toEqual(["a", "b"]);
      expect(info?.tagsTruncated).toBe(true);
    });
  });

  describe("when the registry has few tags", () => {
    it("lists them all and does not say truncated", async () => {
      const source = sourceFor([testbed.open.host]);
      const facts = await source
        .gather(parseReference(`${testbed.open.host}/${repo}:1`), { listTags: true })
        .finally(() => source.close());
      expect(facts.registryInfo?.tags).toEqual(["1"]);
      expect(facts.registryInfo?.tagsTruncated).toBeUndefined();
    });
  });
});
