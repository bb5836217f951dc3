import { Readable } from "node:stream";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isCoded } from "../../src/errors.js";
import { parseReference } from "../../src/reference/parse.js";
import { AddressGuard } from "../../src/registry/guard.js";
import { RegistryError, staticCredentials } from "../../src/registry/index.js";
import { backoffMs, parseRetryAfter, RETRY } from "../../src/registry/retry.js";
import { LIMITS, StatsRecorder, Transport } from "../../src/registry/transport.js";
import { MT, pushImage, randomRepo } from "../support/image-builder.js";
import {
  type ProxyOptions,
  type ProxyRequest,
  type Proxy as RecordingProxy,
  startProxy,
} from "../support/proxy.js";
import { BASIC_USER, getTestbed } from "../support/testbed.js";
import { sourceFor } from "./helpers.js";

const testbed = getTestbed();
const proxies: RecordingProxy[] = [];

async function proxy(opts: ProxyOptions, upstream = testbed.open.host): Promise<RecordingProxy> {
  const p = await startProxy(upstream, opts);
  proxies.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

async function failure(work: Promise<unknown>): Promise<RegistryError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error("expected a RegistryError");
}

/** A 10 MiB body in 64 KiB chunks, counting what was produced. */
function countingBody(total: number, chunk = 64 * 1024): { body: Readable; produced: () => number } {
  let produced = 0;
  const body = new Readable({
    read() {
      if (produced >= total) return void this.push(null);
      const n = Math.min(chunk, total - produced);
      produced += n;
      setTimeout(() => this.push(Buffer.alloc(n, 0x20)), 2);
    },
  });
  return { body, produced: () => produced };
}

let repo: string;
let image: Awaited<ReturnType<typeof pushImage>>;
beforeAll(async () => {
  repo = randomRepo("transport");
  image = await pushImage(testbed.open, repo, { config: { User: "t" } }, "1");
});

describe("the transport", () => {
  describe("when a manifest is larger than the cap", () => {
    it("stops reading a streamed 10 MiB body soon after the cap and fails with TOO_LARGE", async () => {
      const big = countingBody(10 * 1024 * 1024);
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/big")
            ? { status: 200, headers: { "content-type": MT.ociManifest }, body: big.body }
            : undefined,
      });
      const transport = new Transport({
        guard: new AddressGuard({ allowPrivate: [p.host] }),
        allowInsecure: [p.host],
      });
      const stats = new StatsRecorder();
      const err = await failure(
        transport.send(
          {
            method: "GET",
            url: new URL(`${p.url}/v2/${repo}/manifests/big`),
            kind: "manifest",
            maxBytes: LIMITS.manifestBytes,
          },
          { stats },
        ),
      );
      transport.close();
      expect(err.code).toBe("TOO_LARGE");
      expect(stats.bytes).toBeLessThan(LIMITS.manifestBytes + 64 * 1024);
      expect(big.produced()).toBeLessThan(10 * 1024 * 1024);
    });

    it("refuses a declared Content-Length over the cap before reading the body", async () => {
      const big = countingBody(10 * 1024 * 1024);
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/big")
            ? {
                status: 200,
                headers: { "content-type": MT.ociManifest, "content-length": String(10 * 1024 * 1024) },
                body: big.body,
              }
            : undefined,
      });
      const source = sourceFor([p.host]);
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:big`)));
      source.close();
      expect(err.code).toBe("TOO_LARGE");
      expect(big.produced()).toBeLessThan(LIMITS.manifestBytes);
    });
  });

  describe("when the registry asks to retry", () => {
    it("honours Retry-After in seconds on a 429", async () => {
      let calls = 0;
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/1") && calls++ === 0
            ? {
                status: 429,
                headers: { "retry-after": "2" },
                body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
              }
            : undefined,
      });
      const sleeps: number[] = [];
      const source = sourceFor([p.host], { sleep: async (ms) => void sleeps.push(ms) });
      const facts = await source.gather(parseReference(`${p.host}/${repo}:1`));
      source.close();
      expect(sleeps).toEqual([2000]);
      expect(facts.config.user).toBe("t");
      expect(p.requests.filter((r) => r.path.endsWith("/manifests/1")).map((r) => r.status)).toEqual([
        429, 200,
      ]);
    });

    it("honours Retry-After as an HTTP date", async () => {
      let calls = 0;
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/1") && calls++ === 0
            ? { status: 503, headers: { "retry-after": "Wed, 21 Oct 2026 07:28:03 GMT" } }
            : undefined,
      });
      const sleeps: number[] = [];
      const source = sourceFor([p.host], {
        sleep: async (ms) => void sleeps.push(ms),
        now: () => Date.parse("Wed, 21 Oct 2026 07:28:00 GMT"),
      });
      await source.gather(parseReference(`${p.host}/${repo}:1`));
      source.close();
      expect(sleeps).toEqual([3000]);
    });

    it("gives up at once with TOO_MANY_REQUESTS when Retry-After is longer than it will wait", async () => {
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/1") ? { status: 429, headers: { "retry-after": "120" } } : undefined,
      });
      const sleeps: number[] = [];
      const source = sourceFor([p.host], { sleep: async (ms) => void sleeps.push(ms) });
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:1`)));
      source.close();
      expect(err.code).toBe("TOO_MANY_REQUESTS");
      expect(err.retryAfterMs).toBe(120_000);
      expect(sleeps).toEqual([]);
    });

    it("retries a 500 a bounded number of times with exponential backoff, then fails with SERVER_ERROR", async () => {
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/1")
            ? { status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}' }
            : undefined,
      });
      const sleeps: number[] = [];
      const source = sourceFor([p.host], { sleep: async (ms) => void sleeps.push(ms), random: () => 0 });
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:1`)));
      source.close();
      expect(err.code).toBe("SERVER_ERROR");
      expect(err.status).toBe(500);
      expect(err.registryErrors).toEqual([{ code: "UNKNOWN", message: "disk on fire" }]);
      expect(p.requests).toHaveLength(RETRY.maxAttempts);
      expect(sleeps).toEqual([backoffMs(0, () => 0), backoffMs(1, () => 0)]);
      expect(sleeps[1]).toBe(2 * sleeps[0]!);
    });

    it("retries a registry error code that says to, whatever the status", async () => {
      let calls = 0;
      const p = await proxy({
        respond: (req) =>
          req.path.endsWith("/manifests/1") && calls++ === 0
            ? { status: 400, body: '{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}' }
            : undefined,
      });
      const source = sourceFor([p.host]);
      await source.gather(parseReference(`${p.host}/${repo}:1`));
      source.close();
      expect(calls).toBeGreaterThan(1);
    });

    it("does not retry a 404", async () => {
      const p = await proxy({});
      const sleeps: number[] = [];
      const source = sourceFor([p.host], { sleep: async (ms) => void sleeps.push(ms) });
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:missing`)));
      source.close();
      expect(err.code).toBe("MANIFEST_UNKNOWN");
      expect(err.registryErrors?.[0]?.code).toBe("MANIFEST_UNKNOWN");
      expect(sleeps).toEqual([]);
    });
  });

  describe("when a request redirects", () => {
    it("never sends credentials to another host", async () => {
      const basicRepo = randomRepo("redirect");
      const pushed = await pushImage(testbed.basic, basicRepo, { config: { User: "r" } }, "1");
      const seen: { path: string; authorization?: string }[] = [];
      const storage = await proxy({
        respond: (req) => {
          seen.push({
            path: req.path,
            ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          });
          return {
            status: 200,
            headers: { "content-type": "application/octet-stream" },
            body: pushed.configBytes,
          };
        },
      });
      const registry = await proxy(
        {
          respond: (req) =>
            req.path.endsWith(`/blobs/${pushed.configDigest}`)
              ? { status: 307, headers: { location: `${storage.url}/store/${pushed.configDigest}?sig=abc` } }
              : undefined,
        },
        testbed.basic.host,
      );
      const source = sourceFor([registry.host, storage.host], {
        credentials: staticCredentials({ [registry.host]: BASIC_USER }),
      });
      const facts = await source.gather(parseReference(`${registry.host}/${basicRepo}:1`));
      source.close();
      expect(facts.config.user).toBe("r");
      expect(seen).toEqual([{ path: `/store/${pushed.configDigest}` }]);
    });

    /** A blob GET with every kind of credential, redirected by the registry to storage with a signed URL. */
    async function redirectedToStorage(): Promise<{
      seen: ProxyRequest[];
      stats: StatsRecorder;
      urls: string[];
    }> {
      const seen: ProxyRequest[] = [];
      const storage = await proxy({
        respond: (req) => {
          seen.push(req);
          return { status: 200, body: "stored" };
        },
      });
      const registry = await proxy({
        respond: () => ({
          status: 307,
          headers: {
            location: `${storage.url}/store/blob?X-Amz-Signature=signed-secret&X-Amz-Credential=id`,
          },
        }),
      });
      const transport = new Transport({
        guard: new AddressGuard({ allowPrivate: [registry.host, storage.host] }),
        allowInsecure: [registry.host, storage.host],
      });
      const stats = new StatsRecorder();
      const response = await transport.send(
        {
          method: "GET",
          url: new URL(`${registry.url}/v2/${repo}/blobs/x?token=query-secret`),
          kind: "blob",
          headers: {
            accept: "application/octet-stream",
            authorization: "Bearer registry-token",
            cookie: "session=registry-cookie",
            "x-registry-auth": "registry-secret",
          },
          maxBytes: 1024,
        },
        { stats },
      );
      transport.close();
      expect(response.body.toString()).toBe("stored");
      return { seen, stats, urls: [`${registry.url}/v2/${repo}/blobs/x`, `${storage.url}/store/blob`] };
    }

    it("sends another origin no header but Accept", async () => {
      const { seen } = await redirectedToStorage();
      expect(seen).toHaveLength(1);
      const forwarded = Object.keys(seen[0]!.headers).filter(
        (h) => !["host", "connection", "user-agent"].includes(h),
      );
      expect(forwarded).toEqual(["accept"]);
    });

    it("keeps no query string in the request log", async () => {
      const { stats, urls } = await redirectedToStorage();
      expect(stats.log).toEqual(urls.map((u) => `GET ${u}`));
    });

    it("follows at most 5 redirects", async () => {
      const p = await proxy({
        respond: (req) =>
          req.path.includes("/manifests/") || req.path.startsWith("/loop")
            ? { status: 302, headers: { location: `/loop/${Number(req.path.split("/")[2] ?? 0) + 1}` } }
            : undefined,
      });
      const source = sourceFor([p.host]);
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:1`)));
      source.close();
      expect(err.code).toBe("REDIRECT_REFUSED");
      expect(p.requests).toHaveLength(LIMITS.maxRedirects + 1);
    });

    it("refuses a redirect to plain http on a host not allowed it", async () => {
      const other = await proxy({ respond: () => ({ status: 200, body: image.manifestBytes }) });
      const p = await proxy({
        respond: (req) =>
          req.path.includes("/manifests/")
            ? { status: 307, headers: { location: `${other.url}/m` } }
            : undefined,
      });
      const source = sourceFor([p.host], { allowPrivate: [p.host, other.host], allowInsecure: [p.host] });
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:1`)));
      source.close();
      expect(err.code).toBe("INSECURE_REFUSED");
      expect(other.requests).toEqual([]);
    });
  });

  describe("when the registry is slow", () => {
    it("fails with TIMEOUT", async () => {
      const p = await proxy({ delayMs: () => 2_000 });
      const source = sourceFor([p.host], { timeoutMs: 100 });
      const err = await failure(source.gather(parseReference(`${p.host}/${repo}:1`)));
      source.close();
      expect(err.code).toBe("TIMEOUT");
    });

    it("stops with ABORTED when the caller aborts", async () => {
      const p = await proxy({ delayMs: () => 2_000 });
      const source = sourceFor([p.host]);
      const controller = new AbortController();
      const pending = source.gather(parseReference(`${p.host}/${repo}:1`), { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const err = await failure(pending);
      source.close();
      expect(isCoded(err, "ABORTED")).toBe(true);
    });
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it.each([
    ["5", 5000],
    ["0", 0],
    ["Thu, 01 Jan 2026 00:00:10 GMT", 10_000],
    ["Wed, 31 Dec 2025 23:59:00 GMT", 0],
    ["soon", undefined],
    [undefined, undefined],
  ])("reads %j as %j ms", (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });
});

describe("backoffMs", () => {
  it("doubles per attempt, jitters within the upper half, and is capped", () => {
    expect(backoffMs(0, () => 0)).toBe(RETRY.baseDelayMs / 2);
    expect(backoffMs(0, () => 1)).toBe(RETRY.baseDelayMs);
    expect(backoffMs(1, () => 1)).toBe(RETRY.baseDelayMs * 2);
    expect(backoffMs(20, () => 1)).toBe(RETRY.maxDelayMs);
  });
});
