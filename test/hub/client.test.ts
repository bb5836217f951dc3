import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provenanceChecks } from "../../src/checks/provenance.js";
import { HubClient, HubError } from "../../src/hub/client.js";
import type { ImageReference } from "../../src/reference/types.js";
import { cleanContext, cleanFacts } from "../support/facts.js";

/** Search rows shaped like Hub's `/api/search/v4` answers. */
function row(id: string, badge: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name: id,
    slug: id,
    type: "image",
    publisher: { id: "x", name: id.split("/")[0] },
    created_at: "2015-01-01T00:00:00Z",
    updated_at: "2026-11-20T10:00:00.000Z",
    short_description: `${id} image`,
    badge,
    star_count: 42,
    pull_count: "1M+",
    raw_pull_count: 1_234_567,
    archived: false,
    media_types: ["application/vnd.oci.image.index.v1+json"],
    ...extra,
  };
}

const SEARCH: Record<string, unknown> = {
  "grafana/grafana": {
    total: 2,
    results: [row("grafana/grafana-oss", "verified_publisher"), row("grafana/grafana", "verified_publisher")],
  },
  "binacle/binacle": { total: 1, results: [row("binacle/binacle", "open_source")] },
  nginx: { total: 1, results: [row("nginx", "official")] },
  "someone/tool": { total: 1, results: [row("someone/tool-fork", "none")] },
  "someone/plain": { total: 1, results: [row("someone/plain", "none")] },
  "legacy/shape": {
    count: 1,
    results: [{ repo_name: "legacy/shape", is_official: false, pull_count: 99, star_count: 1 }],
  },
  "nobody/missing": { total: 0, results: [] },
};

const REPOS: Record<string, unknown> = {
  "someone/tool": {
    namespace: "someone",
    name: "tool",
    description: "a tool",
    star_count: 3,
    pull_count: 4567,
    last_updated: "2026-10-01T00:00:00Z",
  },
};

let server: Server;
let base: string;
const requests: string[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  requests.push(`${url.pathname}${url.search}`);
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === "/api/search/v4") {
    const q = url.searchParams.get("query") ?? "";
    if (q === "slow/app") return; // never answers
    if (q === "huge/app") {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(2 * 1024 * 1024) });
      res.end();
      return;
    }
    if (q === "stream/app") {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = "x".repeat(64 * 1024);
      for (let i = 0; i < 20; i++) res.write(chunk);
      res.end();
      return;
    }
    if (q === "broken/app") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("<html>maintenance</html>");
      return;
    }
    if (q === "busy/app") json(429, { message: "slow down" });
    else json(200, SEARCH[q] ?? { total: 0, results: [] });
    return;
  }
  const m = /^\/v2\/repositories\/([^/]+)\/([^/]+)\/$/.exec(url.pathname);
  if (m) {
    const repo = REPOS[`${m[1]}/${m[2]}`];
    if (repo) json(200, repo);
    else json(404, { message: "object not found" });
    return;
  }
  json(404, { message: "not found" });
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const hub = (repository: string): ImageReference => ({
  registry: "docker.io",
  repository,
  tag: "1.0",
  original: `${repository}:1.0`,
});

function counted<T>(fn: () => Promise<T>): Promise<{ result: T; requests: string[] }> {
  const start = requests.length;
  return fn().then((result) => ({ result, requests: requests.slice(start) }));
}

describe("HubClient", () => {
  describe("when Hub answers", () => {
    it("maps the verified publisher badge and the metadata", async () => {
      const client = new HubClient({ baseUrl: base });
      expect(await client.lookup(hub("grafana/grafana"))).toEqual({
        badge: "verified_publisher",
        lastUpdated: "2026-11-20T10:00:00.000Z",
        pullCount: 1_234_567,
        starCount: 42,
        description: "grafana/grafana image",
      });
    });

    it("maps the sponsored open source badge", async () => {
      expect((await new HubClient({ baseUrl: base }).lookup(hub("binacle/binacle"))).badge).toBe(
        "open_source",
      );
    });

    it("finds an official image by its bare name", async () => {
      const facts = await new HubClient({ baseUrl: base }).lookup(hub("library/nginx"));
      expect(facts).toMatchObject({ badge: "official", official: true });
    });

    it("records no badge for `none`", async () => {
      const facts = await new HubClient({ baseUrl: base }).lookup(hub("someone/plain"));
      expect(facts.badge).toBeUndefined();
      expect(facts.pullCount).toBe(1_234_567);
    });

    it("understands the older v2 search rows", async () => {
      expect(await new HubClient({ baseUrl: base }).lookup(hub("legacy/shape"))).toEqual({
        pullCount: 99,
        starCount: 1,
      });
    });

    it("falls back to the repository endpoint when search does not list the repository", async () => {
      const { result, requests: sent } = await counted(() =>
        new HubClient({ baseUrl: base }).lookup(hub("someone/tool")),
      );
      expect(result).toEqual({
        lastUpdated: "2026-10-01T00:00:00Z",
        pullCount: 4567,
        starCount: 3,
        description: "a tool",
      });
      expect(sent).toEqual([
        "/api/search/v4?query=someone%2Ftool&from=0&size=25",
        "/v2/repositories/someone/tool/",
      ]);
    });

    it("says NAME_UNKNOWN for a repository Hub does not have", async () => {
      expect((await new HubClient({ baseUrl: base }).lookup(hub("nobody/missing"))).error?.code).toBe(
        "NAME_UNKNOWN",
      );
    });
  });

  describe("caching", () => {
    it("answers a repeated look-up from the cache with one request in all", async () => {
      const client = new HubClient({ baseUrl: base });
      const { requests: sent } = await counted(async () => {
        await client.lookup(hub("grafana/grafana"));
        await client.lookup(hub("grafana/grafana"));
        await Promise.all([client.lookup(hub("grafana/grafana")), client.lookup(hub("grafana/grafana"))]);
      });
      expect(sent).toHaveLength(1);
    });

    it("shares one request between concurrent look-ups", async () => {
      const client = new HubClient({ baseUrl: base });
      const { requests: sent } = await counted(() =>
        Promise.all([client.lookup(hub("binacle/binacle")), client.lookup(hub("binacle/binacle"))]),
      );
      expect(sent).toHaveLength(1);
    });

    it("asks again once the TTL has passed", async () => {
      let now = 1_000_000;
      const client = new HubClient({ baseUrl: base, ttlMs: 60_000, now: () => now });
      const { requests: sent } = await counted(async () => {
        await client.lookup(hub("grafana/grafana"));
        now += 60_001;
        await client.lookup(hub("grafana/grafana"));
      });
      expect(sent).toHaveLength(2);
    });
  });

  describe("when Hub cannot be used", () => {
    it.each([
      ["a 429", "busy/app", "TOO_MANY_REQUESTS"],
      ["an announced oversized body", "huge/app", "TOO_LARGE"],
      ["a streamed oversized body", "stream/app", "TOO_LARGE"],
      ["something that is not JSON", "broken/app", "BAD_RESPONSE"],
    ])("returns an error for %s, never throws", async (_what, repo, code) => {
      expect((await new HubClient({ baseUrl: base }).lookup(hub(repo))).error?.code).toBe(code);
    });

    it("gives up after its timeout", async () => {
      const facts = await new HubClient({ baseUrl: base, timeoutMs: 200 }).lookup(hub("slow/app"));
      expect(facts.error?.code).toBe("TIMEOUT");
    });

    it("says ABORTED when the caller cancels, and does not cache it", async () => {
      const client = new HubClient({ baseUrl: base, timeoutMs: 300 });
      const ac = new AbortController();
      const pending = client.lookup(hub("slow/app"), ac.signal);
      ac.abort();
      expect((await pending).error?.code).toBe("ABORTED");
      // Asked again, it really asks (and times out) instead of repeating the abort.
      expect((await client.lookup(hub("slow/app"))).error?.code).toBe("TIMEOUT");
    });

    it("says NETWORK when nothing listens, and the publisher becomes unknown", async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const facts = cleanFacts();
      facts.reference = hub("someone/tool");
      facts.hub = await new HubClient({ baseUrl: `http://127.0.0.1:${port}/` }).lookup(facts.reference);
      expect(facts.hub.error?.code).toBe("NETWORK");
      const publisher = provenanceChecks(facts, cleanContext()).find((f) => f.id === "provenance.publisher")!;
      expect(publisher.evidence.publisher).toBe("unknown");
      expect(publisher.detail).toContain("could not be asked");
    });
  });

  it("feeds the publisher check", async () => {
    const facts = cleanFacts();
    facts.reference = hub("grafana/grafana");
    facts.hub = await new HubClient({ baseUrl: base }).lookup(facts.reference);
    const ids = provenanceChecks(facts, cleanContext()).map((f) => [f.id, f.evidence.publisher ?? null]);
    expect(ids).toEqual([["provenance.publisher", "verified-publisher"]]);
  });

  it("asks nothing for another registry", async () => {
    const { result, requests: sent } = await counted(() =>
      new HubClient({ baseUrl: base }).lookup({
        registry: "ghcr.io",
        repository: "acme/app",
        original: "ghcr.io/acme/app",
      }),
    );
    expect(result).toEqual({});
    expect(sent).toEqual([]);
  });

  describe("its base URL", () => {
    it.each([
      "https://hub.docker.com/",
      "https://hub.example.com/mirror",
      "http://127.0.0.1:9/",
      "http://localhost:9",
      "http://[::1]:9/",
    ])("accepts %s", (url) => {
      expect(() => new HubClient({ baseUrl: url })).not.toThrow();
    });

    it.each([
      ["http://hub.docker.com/", "INSECURE_URL"],
      ["http://10.0.0.1/", "INSECURE_URL"],
      ["ftp://127.0.0.1/", "INSECURE_URL"],
      ["not a url", "INVALID_URL"],
    ])("refuses %s", (url, code) => {
      let err: unknown;
      try {
        new HubClient({ baseUrl: url });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HubError);
      expect((err as HubError).code).toBe(code);
    });
  });
});
