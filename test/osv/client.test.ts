import { afterEach, describe, expect, it } from "vitest";
import { OSV_LIMITS, OsvClient } from "../../src/osv/client.js";
import { StatsRecorder } from "../../src/registry/transport.js";
import { osvItems } from "../../src/vuln/osv.js";
import type { SbomPackage } from "../../src/vuln/sbom.js";
import { type FakeOsv, type RecordedQuery, startFakeOsv } from "../support/fake-osv.js";
import { readVectorJson } from "../support/vectors.js";

const IMAGE_CASSETTE = ["image-TestCommand_Docker.yaml"];

/**
 * Records for the ids the image cassette names. osv-scanner records no detail answers, so these
 * are made here in OSV's shape, with the fixed versions Alpine published (openssl 3.1.8-r0, musl
 * 1.2.4-r3); the CVE record carries the severity, as Alpine's advisories carry none.
 */
const RECORDS: Record<string, unknown> = {
  "ALPINE-CVE-2024-9143": {
    id: "ALPINE-CVE-2024-9143",
    modified: "2026-06-15T18:18:10.531917Z",
    upstream: ["CVE-2024-9143"],
    aliases: [],
    related: ["CVE-2024-9143"],
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.7-r1" }] }],
      },
    ],
  },
  "ALPINE-CVE-2024-13176": {
    id: "ALPINE-CVE-2024-13176",
    modified: "2026-06-15T18:18:10.257313Z",
    aliases: ["CVE-2024-13176"],
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.8-r0" }] }],
      },
    ],
  },
  "CVE-2024-13176": {
    id: "CVE-2024-13176",
    severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N" }],
  },
  "CVE-2024-9143": {
    id: "CVE-2024-9143",
    severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:L" }],
  },
  "ALPINE-CVE-2025-26519": {
    id: "ALPINE-CVE-2025-26519",
    modified: "2026-07-08T04:32:24.548042Z",
    database_specific: { severity: "HIGH" },
    affected: [
      {
        package: { ecosystem: "Alpine:v3.18", name: "musl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1.2.4-r3" }] }],
      },
    ],
  },
};

/** Packages as an SBOM of the recorded alpine 3.18 image would list them (source names, as syft writes upstream=). */
function packagesOf(queries: RecordedQuery[]): SbomPackage[] {
  return queries.map((q) => ({
    query: q,
    purl: `pkg:apk/alpine/${q.package.name}@${q.version}?arch=x86_64&upstream=${q.package.name}&distro=alpine-3.18.9`,
  }));
}

let fake: FakeOsv | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

const noWait = async () => {};
function client(f: FakeOsv, allow = true) {
  return new OsvClient({
    baseUrl: f.url,
    ...(allow ? { allowPrivate: [f.host], allowInsecure: [f.host] } : { allowInsecure: [f.host] }),
    sleep: noWait,
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (err) {
    return (err as { code?: string }).code ?? "uncoded";
  }
}

describe("OsvClient", () => {
  it("asks one querybatch and one parallel round of details, and a re-check asks nothing", async () => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS);
    const osv = client(fake);
    const packages = packagesOf(fake.queries);
    const first = await osv.match(packages);
    expect(fake.unrecorded).toEqual([]);
    // 3 records in one parallel round, then the 2 CVE records their severity comes from.
    expect(first.requests).toEqual({ querybatch: 1, vulns: 5 });
    const items = osvItems(packages, first.hits, first.records);
    expect(items.map((i) => [i.id, i.package, i.installed, i.fixed, i.severity])).toEqual([
      ["ALPINE-CVE-2024-13176", "openssl", "3.1.7-r0", "3.1.8-r0", "medium"],
      ["ALPINE-CVE-2024-9143", "openssl", "3.1.7-r0", "3.1.7-r1", "medium"],
      ["ALPINE-CVE-2025-26519", "musl", "1.2.4-r2", "1.2.4-r3", "high"],
    ]);
    const before = fake.log.length;
    const again = await osv.match(packages);
    expect(fake.log.length).toBe(before);
    expect(again.requests).toEqual({ querybatch: 0, vulns: 0 });
    osv.close();
  });

  it("splits queries into querybatch calls of at most the batch size, all sent in one round", async () => {
    fake = await startFakeOsv(["source-TestCommand_Config_UnusedIgnores.yaml"]);
    const recorded = fake.queries;
    expect(recorded.length).toBe(151); // 338 recorded queries, 151 distinct
    const osv = new OsvClient({
      baseUrl: fake.url,
      allowPrivate: [fake.host],
      allowInsecure: [fake.host],
      batchSize: 100,
    });
    const requests = { querybatch: 0 };
    const hits = await osv.findIds(packagesOf(recorded), { stats: new StatsRecorder() }, requests);
    expect(fake.unrecorded).toEqual([]);
    expect(requests.querybatch).toBe(2);
    expect(fake.log).toEqual(["POST /v1/querybatch", "POST /v1/querybatch"]);
    expect(hits.flat().map((h) => h.id)).toContain("DLA-3008-1");
    osv.close();
  });

  it("never sends more than the API's 1000 queries per call, whatever it is asked", () => {
    expect(OSV_LIMITS.batchSize).toBe(1000);
    const osv = new OsvClient({ baseUrl: "https://api.osv.dev", batchSize: 5000 });
    expect((osv as unknown as { batchSize: number }).batchSize).toBe(1000);
  });

  it("fails when asked about a package the cassette does not hold, and the fake says so", async () => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS);
    const osv = client(fake);
    const odd: SbomPackage = {
      query: { package: { ecosystem: "Alpine:v3.18", name: "not-recorded" }, version: "1" },
      purl: "pkg:apk/alpine/not-recorded@1?distro=alpine-3.18.9",
    };
    expect(await codeOf(osv.match([odd]))).toBe("HTTP_ERROR");
    expect(fake.unrecorded).toEqual(['querybatch ["Alpine:v3.18","not-recorded","1"]']);
    fake.unrecorded.length = 0;
    osv.close();
  });

  it("retries 503 and 429 with the registry's retry table", async () => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS, { statuses: [503, 429] });
    const osv = client(fake);
    const found = await osv.match(packagesOf(fake.queries.slice(0, 1)));
    expect(found.hits).toEqual([[]]);
    expect(fake.log.filter((l) => l === "POST /v1/querybatch")).toHaveLength(3);
    osv.close();
  });

  it.each([
    ["not JSON", () => "<html>", "BAD_RESPONSE"],
    ["too few results", () => '{"results": []}', "BAD_RESPONSE"],
    ["results that are not objects", (a: string) => a.replace(/\{\}/g, "7"), "BAD_RESPONSE"],
    [
      "an id that is no id",
      (a: string) => a.replace("ALPINE-CVE-2024-13176", "../../etc/passwd"),
      "BAD_RESPONSE",
    ],
    ["a 9 MiB answer", () => Buffer.alloc(9 * 1024 * 1024, 0x20), "TOO_LARGE"],
  ])("refuses an answer with %s, by its code", async (_what, batchBody, code) => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS, { batchBody });
    const osv = client(fake);
    expect(await codeOf(osv.match(packagesOf(fake.queries)))).toBe(code);
    osv.close();
  });

  it("gives up on a slow answer when the check's deadline aborts it", async () => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS, { delayMs: 5_000 });
    const osv = client(fake);
    const deadline = new AbortController();
    const pending = codeOf(osv.match(packagesOf(fake.queries), deadline.signal));
    setTimeout(() => deadline.abort(), 50);
    expect(await pending).not.toBe("resolved");
    osv.close();
  });

  it("refuses a loopback OSV URL the policy does not list, before connecting", async () => {
    fake = await startFakeOsv(IMAGE_CASSETTE, RECORDS);
    const osv = client(fake, false);
    expect(await codeOf(osv.match(packagesOf(fake.queries)))).toBe("BLOCKED_ADDRESS");
    expect(fake.log).toEqual([]);
    osv.close();
  });

  it("reads osv.dev's own Debian record through the fake", async () => {
    const dsa = readVectorJson("vuln/osv/records/DSA-3029-1.json");
    fake = await startFakeOsv(IMAGE_CASSETTE, { "DSA-3029-1": dsa });
    expect(fake.unrecorded).toEqual([]);
  });
});
