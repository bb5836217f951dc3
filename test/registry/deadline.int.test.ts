// One deadline per gather (policy limits.checkSeconds): every request, body, wait, retry and
// Retry-After together. A hostile registry in front of the real one (the recording proxy) answers
// 503 with a long Retry-After, or drips a body; the gather must end with DEADLINE, and a retry that
// would end past the deadline must not be attempted. Codes and request counts only, never durations.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { type ProxyOptions, type Proxy as RecordingProxy, slowBody, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { codeOf, sourceFor } from "./helpers.js";

const testbed = getTestbed();
const proxies: RecordingProxy[] = [];
let repo: string;

beforeAll(async () => {
  repo = randomRepo("deadline");
  await pushImage(testbed.open, repo, { config: { User: "app" } }, "1");
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

async function proxy(opts: ProxyOptions): Promise<RecordingProxy> {
  const p = await startProxy(testbed.open.host, opts);
  proxies.push(p);
  return p;
}

/** The referrers API answers 503, asking to be asked again after `seconds`. */
function unavailableReferrers(seconds: number): ProxyOptions {
  return {
    respond: (req) =>
      req.path.includes("/referrers/")
        ? {
            status: 503,
            headers: { "retry-after": String(seconds), "content-type": "application/json" },
            body: JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "try later" }] }),
          }
        : undefined,
  };
}

describe("a gather's deadline", () => {
  describe("when the registry asks to retry after longer than the time left", () => {
    it("does not retry, and fails with DEADLINE", async () => {
      const p = await proxy(unavailableReferrers(29));
      const source = sourceFor([p.host]);
      const gathering = source.gather(parseReference(`${p.host}/${repo}:1`), { timeLimitMs: 10_000 });
      expect(await codeOf(gathering.finally(() => source.close()))).toBe("DEADLINE");
      expect(p.requests.filter((r) => r.path.includes("/referrers/"))).toHaveLength(1);
    });
  });

  describe("when the retries fit within the time left", () => {
    it("retries as before, and records the look-up as incomplete rather than failing", async () => {
      const p = await proxy(unavailableReferrers(0));
      const source = sourceFor([p.host]);
      const facts = await source
        .gather(parseReference(`${p.host}/${repo}:1`), { timeLimitMs: 10_000 })
        .finally(() => source.close());
      expect(p.requests.filter((r) => r.path.includes("/referrers/"))).toHaveLength(3);
      expect(facts.incomplete.map((i) => i.code)).not.toContain("DEADLINE");
    });
  });

  describe("when the registry drips a manifest slowly", () => {
    it("fails with DEADLINE once the time is up, mid-body", async () => {
      const p = await proxy({
        respond: (req) =>
          req.method === "GET" && req.path.endsWith("/manifests/1")
            ? { status: 200, body: slowBody(1024 * 1024, { chunk: 1024, everyMs: 50 }) }
            : undefined,
      });
      const source = sourceFor([p.host]);
      const gathering = source.gather(parseReference(`${p.host}/${repo}:1`), { timeLimitMs: 500 });
      expect(await codeOf(gathering.finally(() => source.close()))).toBe("DEADLINE");
      expect(p.requests.filter((r) => r.path.endsWith("/manifests/1"))).toHaveLength(1);
    });
  });

  describe("when the deadline has passed before a request is made", () => {
    it("makes no request at all", async () => {
      const p = await proxy({});
      let now = 1_000_000;
      const source = sourceFor([p.host], {
        // The clock jumps past the deadline as soon as it is set.
        now: () => {
          now += 60_000;
          return now;
        },
      });
      const gathering = source.gather(parseReference(`${p.host}/${repo}:1`), { timeLimitMs: 1_000 });
      expect(await codeOf(gathering.finally(() => source.close()))).toBe("DEADLINE");
      expect(p.requests).toHaveLength(0);
    });
  });
});
