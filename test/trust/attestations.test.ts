import { describe, expect, it } from "vitest";
import { readProvenance, repositoryOf } from "../../src/trust/provenance.js";
import { runtimeOf, sbomRuntimes } from "../../src/trust/sbom.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import {
  attestationArtifact,
  blobOf,
  dsseEnvelope,
  inTotoStatement,
  MEDIA,
  makeKey,
  PREDICATE,
  provenanceStatement,
  sha256,
  spdxStatement,
  trustFacts,
} from "../support/signing.js";
import { readVector, readVectorJson } from "../support/vectors.js";

const NOW = new Date("2026-01-15T00:00:00Z");
const NO_TRUST: TrustMaterial = { keys: [], keyless: [], trustedRoot: {} };
const REV = "4b220de5058abfd01ff619c9d2ff6b09a049bea0";

/** A BuildKit docs example with `edit` applied to its predicate. */
function buildkitExample(name: string, edit: (p: Record<string, unknown>) => void = () => {}) {
  const statement = readVectorJson(`buildkit-docs/${name}`) as {
    predicateType: string;
    predicate: Record<string, unknown>;
  };
  edit(statement.predicate);
  return statement;
}

describe("readProvenance", () => {
  it.each<[string, { predicateType: string; predicate: Record<string, unknown> }, object]>([
    ["BuildKit v0.2, local context (docs max example)", buildkitExample("provenance-v02-max.json"), {}],
    ["BuildKit v1, local context (docs min example)", buildkitExample("provenance-v1-min.json"), {}],
    [
      "BuildKit v0.2, Git context (configSource)",
      buildkitExample("provenance-v02-min.json", (p) => {
        p.invocation = {
          configSource: {
            uri: "https://github.com/moby/buildkit.git#refs/tags/v0.11.0",
            digest: { sha1: REV },
          },
        };
      }),
      { sourceRepository: "https://github.com/moby/buildkit.git", sourceRevision: REV },
    ],
    [
      "BuildKit v0.2, vcs metadata",
      buildkitExample("provenance-v02-max.json", (p) => {
        (p.metadata as Record<string, unknown>)["https://mobyproject.org/buildkit@v1#metadata"] = {
          vcs: { source: "https://github.com/docker/buildx.git", revision: REV },
        };
        p.builder = { id: "https://github.com/docker/buildx/actions/runs/3709599520" };
      }),
      {
        sourceRepository: "https://github.com/docker/buildx.git",
        sourceRevision: REV,
        builder: "https://github.com/docker/buildx/actions/runs/3709599520",
      },
    ],
    [
      "BuildKit v1, Git context (externalParameters.configSource)",
      buildkitExample("provenance-v1-max.json", (p) => {
        const def = p.buildDefinition as Record<string, Record<string, unknown>>;
        def.externalParameters!.configSource = {
          uri: "https://github.com/moby/buildkit.git#refs/tags/v0.11.0",
          digest: { sha1: REV },
        };
      }),
      { sourceRepository: "https://github.com/moby/buildkit.git", sourceRevision: REV },
    ],
    [
      "BuildKit v1, vcs metadata",
      buildkitExample("provenance-v1-max.json", (p) => {
        const meta = (p.runDetails as Record<string, Record<string, Record<string, unknown>>>).metadata!;
        meta.buildkit_metadata!.vcs = { source: "git@github.com:acme/app.git", revision: REV };
      }),
      { sourceRepository: "git@github.com:acme/app.git", sourceRevision: REV },
    ],
    [
      "BuildKit v1, Git URL among resolved dependencies",
      buildkitExample("provenance-v1-min.json", (p) => {
        const def = p.buildDefinition as Record<string, unknown[]>;
        def.resolvedDependencies!.push({
          uri: "https://github.com/moby/buildkit.git#refs/tags/v0.11.0",
          digest: { sha1: REV },
        });
      }),
      { sourceRepository: "https://github.com/moby/buildkit.git", sourceRevision: REV },
    ],
    [
      "GitHub Actions v1 (workflow and git+ dependency)",
      {
        predicateType: PREDICATE.slsaV1,
        predicate: {
          buildDefinition: {
            externalParameters: {
              workflow: { repository: "https://github.com/acme/app", ref: "refs/heads/main" },
            },
            resolvedDependencies: [
              { uri: "git+https://github.com/acme/app@refs/heads/main", digest: { gitCommit: REV } },
            ],
          },
          runDetails: { builder: { id: "https://github.com/actions/runner/github-hosted" } },
        },
      },
      {
        sourceRepository: "https://github.com/acme/app",
        sourceRevision: REV,
        builder: "https://github.com/actions/runner/github-hosted",
      },
    ],
    [
      "slsa-github-generator v0.2 (git+ configSource)",
      {
        predicateType: PREDICATE.slsaV02,
        predicate: {
          builder: {
            id: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0",
          },
          invocation: {
            configSource: { uri: "git+https://github.com/acme/app@refs/heads/main", digest: { sha1: REV } },
          },
          materials: [{ uri: "git+https://github.com/acme/app@refs/heads/main", digest: { sha1: REV } }],
        },
      },
      {
        sourceRepository: "https://github.com/acme/app",
        sourceRevision: REV,
        builder:
          "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0",
      },
    ],
  ])("reads %s", (_name, statement, expected) => {
    expect(readProvenance(statement.predicateType, statement.predicate)).toEqual(expected);
  });

  it.each<[string, string | undefined]>([
    ["pkg:docker/alpine@latest?platform=linux%2Famd64", undefined],
    ["https://example.com/archive.tar.gz", undefined],
    ["git+https://github.com/acme/app@refs/tags/v1", "https://github.com/acme/app"],
    ["git+ssh://git@github.com/acme/app.git@main", "ssh://git@github.com/acme/app.git"],
    ["https://gitlab.com/acme/app", "https://gitlab.com/acme/app"],
  ])("takes the repository of %s as %s", (uri, expected) => {
    expect(repositoryOf(uri)).toBe(expected);
  });
});

describe("SBOM runtimes", () => {
  it.each<[string, string | undefined]>([
    ["python3.12", "python"],
    ["python3-minimal", "python"],
    ["python3.11-minimal", "python"],
    ["libpython3.11-stdlib", undefined],
    ["py3-pip", undefined],
    ["nodejs", "node"],
    ["node", "node"],
    ["perl-base", "perl"],
    ["ruby3.2", "ruby"],
    ["openjdk-17-jre-headless", "java"],
    ["java-17-openjdk-headless", "java"],
    ["php8.2-cli", "php"],
    ["busybox", "shell"],
    ["bash", "shell"],
    ["dash", "shell"],
    ["musl", undefined],
    ["nodejs-docs", undefined],
  ])("maps package %s to %s", (name, expected) => {
    expect(runtimeOf(name)).toBe(expected);
  });

  it("lists the runtimes of an SPDX document", () => {
    const doc = {
      packages: [{ name: "busybox" }, { name: "python3" }, { name: "musl" }, { name: "python3.12" }],
    };
    expect(sbomRuntimes(doc)).toEqual(["python", "shell"]);
  });

  it("walks nested CycloneDX components", () => {
    const doc = { components: [{ name: "app", components: [{ name: "nodejs" }, { name: "perl" }] }] };
    expect(sbomRuntimes(doc)).toEqual(["node", "perl"]);
  });

  it("reads the document older cosign wraps as a JSON string in Data", () => {
    expect(sbomRuntimes({ Data: JSON.stringify({ packages: [{ name: "ruby" }] }), Timestamp: "x" })).toEqual([
      "ruby",
    ]);
  });
});

describe("attestations in verifyTrust", () => {
  const manifestDigest = "sha256:e8275b2b76280af67e26f068e5d585eb905f8dfd2f1918b3229db98133cb4862";
  const indexDigest = sha256(Buffer.from("index"));

  describe("when BuildKit stored raw statements in the index", () => {
    const provenance = blobOf(readVector("buildkit-docs/provenance-v1-max.json"), MEDIA.inToto, {
      "in-toto.io/predicate-type": PREDICATE.slsaV1,
    });
    const sbom = blobOf(
      Buffer.from(JSON.stringify(spdxStatement(manifestDigest, ["bash", "python3"]))),
      MEDIA.inToto,
    );
    const facts = trustFacts({
      digest: indexDigest,
      manifestDigest,
      attestations: [attestationArtifact("buildkit", manifestDigest, [provenance, sbom])],
    });

    it("summarizes provenance and SBOM, unsigned, about the platform manifest", () => {
      const report = verifyTrust(facts, NO_TRUST, NOW);
      expect(report.attestations).toEqual([
        {
          foundVia: "index",
          predicateType: PREDICATE.slsaV1,
          kind: "slsa-provenance",
          signatureVerified: null,
          subjectMatches: true,
        },
        {
          foundVia: "index",
          predicateType: PREDICATE.spdx,
          kind: "sbom-spdx",
          runtimes: ["python", "shell"],
          signatureVerified: null,
          subjectMatches: true,
        },
      ]);
    });

    it("says the subject does not match for another image", () => {
      const other = { ...facts, digest: indexDigest, manifestDigest: sha256(Buffer.from("other")) };
      expect(verifyTrust(other, NO_TRUST, NOW).attestations.map((a) => a.subjectMatches)).toEqual([
        false,
        false,
      ]);
    });
  });

  describe("when cosign attached a DSSE attestation (.att)", () => {
    const key = makeKey();
    const keys = [{ name: "release", pem: key.publicPem }];
    const statement = provenanceStatement(manifestDigest, {
      repository: "https://github.com/acme/app",
      revision: REV,
    });
    const att = (signer: typeof key | null) =>
      trustFacts({
        digest: manifestDigest,
        attestations: [
          attestationArtifact("cosign-att", manifestDigest, [
            blobOf(Buffer.from(JSON.stringify(dsseEnvelope(statement, signer))), MEDIA.dsse, {
              "dev.cosignproject.cosign/signature": "",
              predicateType: PREDICATE.slsaV1,
            }),
          ]),
        ],
      });

    it.each<[string, typeof key | null, TrustMaterial, boolean | null]>([
      ["signed by the trusted key", key, { ...NO_TRUST, keys }, true],
      ["signed by another key while a key is trusted", makeKey(), { ...NO_TRUST, keys }, false],
      ["signed, but the policy trusts nobody", key, NO_TRUST, null],
      ["unsigned", null, { ...NO_TRUST, keys }, null],
    ])("reports signatureVerified when %s", (_name, signer, material, expected) => {
      const [summary] = verifyTrust(att(signer), material, NOW).attestations;
      expect(summary).toMatchObject({
        kind: "slsa-provenance",
        sourceRepository: "https://github.com/acme/app",
        sourceRevision: REV,
        signatureVerified: expected,
        subjectMatches: true,
      });
    });

    it("reads v0.2 provenance the same way", () => {
      const v02 = provenanceStatement(
        manifestDigest,
        { repository: "https://github.com/acme/app.git", revision: REV },
        "v0.2",
      );
      const facts = trustFacts({
        digest: manifestDigest,
        attestations: [
          attestationArtifact("cosign-att", manifestDigest, [
            blobOf(Buffer.from(JSON.stringify(dsseEnvelope(v02, key))), MEDIA.dsse),
          ]),
        ],
      });
      expect(verifyTrust(facts, { ...NO_TRUST, keys }, NOW).attestations[0]).toMatchObject({
        predicateType: PREDICATE.slsaV02,
        sourceRepository: "https://github.com/acme/app.git",
        sourceRevision: REV,
        signatureVerified: true,
      });
    });
  });

  describe("when an attestation cannot be read", () => {
    it.each([
      ["not JSON", Buffer.from("\u0000\u0001")],
      ["JSON that is no statement", Buffer.from('{"hello":"world"}')],
      [
        "a DSSE envelope of another payload type",
        Buffer.from(JSON.stringify(dsseEnvelope(Buffer.from("x"), null, "text/plain"))),
      ],
    ])("adds a note for %s and no summary", (_name, bytes) => {
      const facts = trustFacts({
        digest: manifestDigest,
        attestations: [attestationArtifact("referrer", manifestDigest, [blobOf(bytes, MEDIA.inToto)])],
      });
      const report = verifyTrust(facts, NO_TRUST, NOW);
      expect(report.attestations).toEqual([]);
      expect(report.notes).toEqual([expect.stringContaining("could not be read")]);
    });

    it("names a statement without subject digests as matching nothing in particular", () => {
      const statement = { ...inTotoStatement(manifestDigest, "https://example.com/custom"), subject: [] };
      const facts = trustFacts({
        digest: manifestDigest,
        attestations: [
          attestationArtifact("referrer", manifestDigest, [
            blobOf(Buffer.from(JSON.stringify(statement)), MEDIA.inToto),
          ]),
        ],
      });
      expect(verifyTrust(facts, NO_TRUST, NOW).attestations[0]).toMatchObject({
        kind: "other",
        subjectMatches: null,
      });
    });
  });
});
