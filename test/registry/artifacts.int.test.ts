import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import {
  bundleAttestationPredicate,
  COSIGN_SIGN_PREDICATE,
  referrerKind,
} from "../../src/registry/artifacts.js";
import type { Descriptor } from "../../src/registry/client.js";
import { pickPlatform } from "../../src/registry/index.js";
import {
  attachNotation,
  attachSigstoreBundle,
  MT,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../support/image-builder.js";
import { startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { sourceFor } from "./helpers.js";

const testbed = getTestbed();

function dsseBundle(predicateType: string, digest: string) {
  const statement = {
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: "x", digest: { sha256: digest.slice(7) } }],
    predicateType,
    predicate: {},
  };
  return {
    mediaType: MT.sigstoreBundle,
    verificationMaterial: { publicKey: { hint: "k" } },
    dsseEnvelope: {
      payloadType: MT.inToto,
      payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
      signatures: [{ sig: "AA==" }],
    },
  };
}

describe("artifact discovery", () => {
  let repo: string;
  let image: Awaited<ReturnType<typeof pushImage>>;

  beforeAll(async () => {
    repo = randomRepo("artifacts");
    image = await pushImage(testbed.open, repo, {}, "1");
    await signCosign(testbed.open, repo, image.digest, generateKeyPairSync("ed25519").privateKey);
    await attachSigstoreBundle(testbed.open, repo, image, dsseBundle(COSIGN_SIGN_PREDICATE, image.digest));
    await attachSigstoreBundle(
      testbed.open,
      repo,
      image,
      dsseBundle("https://slsa.dev/provenance/v1", image.digest),
    );
    await attachNotation(testbed.open, repo, image, Buffer.from('{"payload":"e30","signatures":[]}'));
  });

  it("files each referrer as a signature or an attestation by what it holds", async () => {
    const source = sourceFor([testbed.open.host]);
    const facts = await source.gather(parseReference(`${testbed.open.host}/${repo}:1`));
    source.close();
    expect(facts.signatures.map((s) => s.kind).sort()).toEqual(["cosign", "notation", "sigstore-bundle"]);
    expect(facts.attestations).toEqual([
      expect.objectContaining({
        kind: "referrer",
        predicateTypes: ["https://slsa.dev/provenance/v1"],
        subjectDigest: image.digest,
      }),
    ]);
    for (const artifact of [...facts.signatures, ...facts.attestations])
      expect(artifact.blobs.length).toBeGreaterThan(0);
  });

  it("looks up artifacts for digests found elsewhere (the engine source), once per digest", async () => {
    const source = sourceFor([testbed.open.host]);
    const found = await source.findArtifacts(parseReference(`${testbed.open.host}/${repo}`), [
      image.digest,
      image.digest,
    ]);
    source.close();
    expect(found.signatures).toHaveLength(3);
    expect(found.attestations).toHaveLength(1);
    expect(found.incomplete).toEqual([]);
    // The .sig, .att and fallback tags are read with one GET each, no HEAD first.
    expect(found.stats.byKind["HEAD manifest"]).toBeUndefined();
  });

  it("resolves a Docker manifest list like an OCI index", async () => {
    const listRepo = randomRepo("dockerlist");
    const list = await pushIndex(
      testbed.open,
      listRepo,
      {
        mediaTypes: "docker",
        images: [
          { spec: { config: { User: "x86" } }, platform: { os: "linux", architecture: "amd64" } },
          {
            spec: { config: { User: "arm32" } },
            platform: { os: "linux", architecture: "arm", variant: "v7" },
          },
        ],
      },
      "1",
    );
    const source = sourceFor([testbed.open.host]);
    const facts = await source.gather(parseReference(`${testbed.open.host}/${listRepo}:1`), {
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    });
    source.close();
    expect(facts.mediaType).toBe(MT.dockerList);
    expect(facts.manifestMediaType).toBe(MT.dockerManifest);
    expect(facts.manifestDigest).toBe(list.images[1]!.digest);
    expect(facts.config.user).toBe("arm32");
  });

  describe("when the policy names a notary server for the registry", () => {
    it("fetches the four TUF roles as served", async () => {
      const served: string[] = [];
      const notary = await startProxy(testbed.open.host, {
        respond: (req) => {
          served.push(req.path);
          const role = /_trust\/tuf\/(\w+)\.json$/.exec(req.path)?.[1];
          return role
            ? { status: 200, headers: { "content-type": "application/json" }, body: `{"role":"${role}"}` }
            : { status: 404 };
        },
      });
      const source = sourceFor([testbed.open.host, notary.host], {
        notary: [{ registry: testbed.open.host, server: notary.url }],
      });
      const facts = await source.gather(parseReference(`${testbed.open.host}/${repo}:1`));
      source.close();
      await notary.stop();
      const gun = `${testbed.open.host}/${repo}`;
      expect(facts.notary).toMatchObject({ server: notary.url, gun });
      expect(Buffer.from(facts.notary!.targets!, "base64").toString()).toBe('{"role":"targets"}');
      expect(served.sort()).toEqual(
        ["root", "snapshot", "targets", "timestamp"].map((r) => `/v2/${gun}/_trust/tuf/${r}.json`),
      );
      expect(facts.incomplete).toEqual([]);
    });

    it("records a notary failure without failing the gather", async () => {
      const notary = await startProxy(testbed.open.host, { respond: () => ({ status: 404 }) });
      const source = sourceFor([testbed.open.host, notary.host], {
        notary: [{ registry: testbed.open.host, server: notary.url }],
      });
      const facts = await source.gather(parseReference(`${testbed.open.host}/${repo}:1`));
      source.close();
      await notary.stop();
      expect(facts.notary?.error?.code).toBe("NAME_UNKNOWN");
      expect(facts.incomplete).toEqual([expect.objectContaining({ part: "notary", code: "NAME_UNKNOWN" })]);
    });
  });
});

describe("pickPlatform", () => {
  const entry = (architecture: string, variant?: string): Descriptor => ({
    mediaType: MT.ociManifest,
    digest: `sha256:${architecture}${variant ?? ""}`,
    size: 1,
    platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
  });
  const entries = [entry("amd64"), entry("arm", "v6"), entry("arm", "v7"), entry("arm64", "v8")];
  it.each([
    [{ os: "linux", architecture: "amd64" }, "sha256:amd64"],
    [{ os: "linux", architecture: "arm", variant: "v7" }, "sha256:armv7"],
    [{ os: "linux", architecture: "arm" }, "sha256:armv6"],
    [{ os: "linux", architecture: "arm64" }, "sha256:arm64v8"],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, "sha256:arm64v8"],
    [{ os: "linux", architecture: "s390x" }, undefined],
    [{ os: "windows", architecture: "amd64" }, undefined],
  ])("picks %j as %s", (wanted, digest) => {
    expect(pickPlatform(entries, wanted)?.digest).toBe(digest);
  });
});

describe("referrer recognition", () => {
  it.each([
    [MT.sigstoreBundle, "sigstore-bundle"],
    ["application/vnd.dev.sigstore.bundle+json;version=0.2", "sigstore-bundle"],
    [MT.notarySignature, "notation"],
    [MT.inToto, "in-toto"],
    ["application/spdx+json", "ignore"],
    [undefined, "unknown"],
  ])("treats %s as %s", (artifactType, kind) => {
    expect(referrerKind(artifactType)).toBe(kind);
  });

  it("tells a bundle's attestation predicate from cosign 3's signature predicate", () => {
    const blob = (bundle: object) => ({
      mediaType: MT.sigstoreBundle,
      digest: "",
      size: 0,
      annotations: {},
      data: Buffer.from(JSON.stringify(bundle)).toString("base64"),
    });
    const d = `sha256:${"a".repeat(64)}`;
    expect(bundleAttestationPredicate({}, [blob(dsseBundle("https://spdx.dev/Document", d))])).toBe(
      "https://spdx.dev/Document",
    );
    expect(bundleAttestationPredicate({}, [blob(dsseBundle(COSIGN_SIGN_PREDICATE, d))])).toBeUndefined();
    expect(bundleAttestationPredicate({}, [blob({ messageSignature: {} })])).toBeUndefined();
    expect(
      bundleAttestationPredicate(
        { "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1" },
        [],
      ),
    ).toBe("https://slsa.dev/provenance/v1");
  });
});
