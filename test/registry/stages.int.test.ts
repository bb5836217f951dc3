// Proves the request schedule from the wire, without timing anything: a gate holds every response
// until the whole expected stage is pending at once. A client that issued those requests one
// after another would never have them all pending together, and the stage would not complete.

import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import type { RegistrySource } from "../../src/registry/index.js";
import {
  attachCosignAttestation,
  getManifest,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { lines, sourceFor, tagOf } from "./helpers.js";

const testbed = getTestbed();

interface Held {
  line: string;
  release: () => void;
}

/** Waits until `check` holds; the deadline only turns a hang into a failure. */
async function until(check: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never reached: ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("the gather schedule", () => {
  let proxy: RecordingProxy;
  let source: RegistrySource;
  let gate = false;
  const held: Held[] = [];

  /** Wait until exactly `expected` is pending, then let it through. */
  async function stage(expected: string[]): Promise<void> {
    await until(
      () => held.length >= expected.length,
      () => `pending ${JSON.stringify(held.map((h) => h.line))}, expected ${JSON.stringify(expected)}`,
    );
    const batch = held.splice(0);
    expect(batch.map((h) => h.line).sort()).toEqual([...expected].sort());
    for (const h of batch) h.release();
  }

  beforeAll(async () => {
    proxy = await startProxy(testbed.open.host, {
      respond: (req) =>
        gate
          ? new Promise((resolve) =>
              held.push({ line: `${req.method} ${req.path}`, release: () => resolve(undefined) }),
            )
          : undefined,
    });
    source = sourceFor([proxy.host]);
    // Teach the source that this registry has no referrers API, as any earlier gather would.
    const warmup = randomRepo("warmup");
    await pushImage(testbed.open, warmup, {}, "w");
    await source.gather(parseReference(`${proxy.host}/${warmup}:w`));
  });
  afterAll(async () => {
    gate = false;
    source.close();
    await proxy.stop();
  });

  it("takes two dependent stages for a single-platform tag", async () => {
    const repo = randomRepo("stages");
    const image = await pushImage(testbed.open, repo, {}, "1");
    const m = `/v2/${repo}/manifests`;
    gate = true;
    const gathering = source.gather(parseReference(`${proxy.host}/${repo}:1`));
    await stage([`GET ${m}/1`]);
    await stage([
      `GET /v2/${repo}/blobs/${image.configDigest}`,
      `GET ${m}/${tagOf(image.digest, ".sig")}`,
      `GET ${m}/${tagOf(image.digest, ".att")}`,
      `GET ${m}/${tagOf(image.digest)}`,
    ]);
    const facts = await gathering;
    gate = false;
    expect(facts.stats.requests).toBe(5);
    expect(held).toEqual([]);
  });

  it("fetches a signed image's vulnerability attestation alongside its signature, each tag in one GET: no stage of its own", async () => {
    const repo = randomRepo("stages");
    const image = await pushImage(testbed.open, repo, {}, "1");
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const sig = await signCosign(testbed.open, repo, image.digest, key);
    const att = await attachCosignAttestation(testbed.open, repo, image.digest, {
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      subject: [{ name: repo, digest: { sha256: image.digest.slice("sha256:".length) } }],
      predicate: { scanner: { uri: "pkg:github/aquasecurity/trivy@v0.50.1", result: null } },
    });
    const layerOf = async (digest: string) =>
      JSON.parse((await getManifest(testbed.open, repo, digest))!.bytes.toString()).layers[0]
        .digest as string;
    const [sigLayer, attLayer] = await Promise.all([
      layerOf(sig.manifestDigest),
      layerOf(att.manifestDigest),
    ]);
    const m = `/v2/${repo}/manifests`;
    gate = true;
    const gathering = source.gather(parseReference(`${proxy.host}/${repo}:1`));
    await stage([`GET ${m}/1`]);
    await stage([
      `GET /v2/${repo}/blobs/${image.configDigest}`,
      `GET ${m}/${tagOf(image.digest, ".sig")}`,
      `GET ${m}/${tagOf(image.digest, ".att")}`,
      `GET ${m}/${tagOf(image.digest)}`,
    ]);
    await stage([`GET /v2/${repo}/blobs/${sigLayer}`, `GET /v2/${repo}/blobs/${attLayer}`]);
    const facts = await gathering;
    gate = false;
    expect(facts.attestations.map((a) => a.kind)).toEqual(["cosign-att"]);
    expect(held).toEqual([]);
  });

  it("takes three dependent stages for a multi-platform index", async () => {
    const repo = randomRepo("stages");
    const index = await pushIndex(
      testbed.open,
      repo,
      {
        images: [
          { spec: {}, platform: { os: "linux", architecture: "amd64" } },
          { spec: {}, platform: { os: "linux", architecture: "arm64" } },
        ],
        attestations: true,
      },
      "1",
    );
    const [amd] = index.images;
    const [att] = index.attestationManifests;
    const m = `/v2/${repo}/manifests`;
    gate = true;
    const gathering = source.gather(parseReference(`${proxy.host}/${repo}:1`));
    await stage([`GET ${m}/1`]);
    await stage([
      `GET ${m}/${amd!.digest}`,
      `GET ${m}/${att!.digest}`,
      `GET ${m}/${tagOf(index.digest, ".sig")}`,
      `GET ${m}/${tagOf(index.digest, ".att")}`,
      `GET ${m}/${tagOf(index.digest)}`,
    ]);
    await stage([
      `GET /v2/${repo}/blobs/${amd!.configDigest}`,
      ...att!.layers.map((l) => `GET /v2/${repo}/blobs/${l.digest}`),
      `GET ${m}/${tagOf(amd!.digest, ".sig")}`,
      `GET ${m}/${tagOf(amd!.digest, ".att")}`,
      `GET ${m}/${tagOf(amd!.digest)}`,
    ]);
    const facts = await gathering;
    gate = false;
    expect(facts.attestations).toHaveLength(1);
    expect(held).toEqual([]);
  });
});

describe("on Docker Hub, where a manifest GET counts as a pull and a HEAD does not", () => {
  it("HEADs the signature, attestation and fallback tags first, and GETs only what exists", async () => {
    const repo = randomRepo("hub");
    const image = await pushImage(testbed.open, repo, {}, "1");
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const sig = await signCosign(testbed.open, repo, image.digest, key);
    const proxy = await startProxy(testbed.open.host);
    // docker.io's API host, answered on loopback by the proxy: no name is resolved, nothing leaves.
    const hub = "registry-1.docker.io";
    const source = sourceFor([hub], {
      resolver: async () => [{ address: "127.0.0.1", family: 4 }],
      connector: (url, options) => http.request(new URL(`${url.pathname}${url.search}`, proxy.url), options),
    });
    try {
      const facts = await source.gather(parseReference(`docker.io/${repo}:1`));
      const m = `/v2/${repo}/manifests`;
      expect(
        lines(proxy.requests)
          .filter((l) => l.includes("/manifests/sha256"))
          .sort(),
      ).toEqual(
        [
          `HEAD ${m}/${tagOf(image.digest, ".sig")}`,
          `HEAD ${m}/${tagOf(image.digest, ".att")}`,
          `HEAD ${m}/${tagOf(image.digest)}`,
          `GET ${m}/${sig.manifestDigest}`,
        ].sort(),
      );
      expect(facts.signatures).toHaveLength(1);
    } finally {
      source.close();
      await proxy.stop();
    }
  });
});
