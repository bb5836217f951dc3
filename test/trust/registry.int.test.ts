// End to end through the testbed registry: signatures and attestations pushed the way cosign,
// cosign 3 and BuildKit store them, gathered by RegistrySource, verified by verifyTrust.
import { beforeAll, describe, expect, it } from "vitest";
import type { ImageFacts } from "../../src/facts/model.js";
import { parseReference } from "../../src/reference/parse.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { sourceFor } from "../registry/helpers.js";
import {
  attachSigstoreBundle,
  DEFAULT_PROVENANCE_SOURCE,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../support/image-builder.js";
import { cosign3SignatureBundle, makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const testbed = getTestbed();
const NOW = new Date("2026-01-15T00:00:00Z");

describe("trust over a real registry", () => {
  const classicKey = makeKey("ecdsa-p256");
  const bundleKey = makeKey("ecdsa-p256");
  const material: TrustMaterial = {
    keys: [
      { name: "classic", pem: classicKey.publicPem },
      { name: "bundle", pem: bundleKey.publicPem },
    ],
    keyless: [],
    trustedRoot: {},
  };

  describe("when an index is signed with cosign, its platform manifest with a cosign 3 bundle, and BuildKit attested it", () => {
    let facts: ImageFacts;
    let index: Awaited<ReturnType<typeof pushIndex>>;

    beforeAll(async () => {
      const repo = randomRepo("trust");
      index = await pushIndex(
        testbed.open,
        repo,
        { images: [{ spec: {}, platform: { os: "linux", architecture: "amd64" } }], attestations: true },
        "1.0",
      );
      await signCosign(testbed.open, repo, index.digest, classicKey.privateKey);
      const platform = index.images[0]!;
      await attachSigstoreBundle(
        testbed.open,
        repo,
        platform,
        cosign3SignatureBundle(bundleKey, platform.digest),
      );
      facts = await sourceFor([testbed.open.host]).gather(parseReference(`${testbed.open.host}/${repo}:1.0`));
    });

    it("verifies both signatures with their trusted keys", () => {
      const report = verifyTrust(facts, material, NOW);
      expect(report.signatures.map((s) => [s.kind, s.status, s.signer])).toEqual(
        expect.arrayContaining([
          ["cosign", "verified", "classic"],
          ["sigstore-bundle", "verified", "bundle"],
        ]),
      );
    });

    it("reads the provenance source and the SBOM runtimes, about the platform manifest", () => {
      const report = verifyTrust(facts, material, NOW);
      expect(report.attestations).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            kind: "slsa-provenance",
            sourceRepository: DEFAULT_PROVENANCE_SOURCE.repository,
            sourceRevision: DEFAULT_PROVENANCE_SOURCE.revision,
            subjectMatches: true,
          }),
          expect.objectContaining({ kind: "sbom-spdx", runtimes: ["shell"], subjectMatches: true }),
        ]),
      );
    });

    it("finds every signature untrusted when the policy trusts other keys", () => {
      const stranger: TrustMaterial = { ...material, keys: [{ name: "other", pem: makeKey().publicPem }] };
      const statuses = verifyTrust(facts, stranger, NOW).signatures.map((s) => s.status);
      expect(statuses.length).toBeGreaterThanOrEqual(2);
      expect(new Set(statuses)).toEqual(new Set(["untrusted"]));
    });
  });

  describe("when the cosign signature under the image's tag names another digest", () => {
    it("is invalid", async () => {
      const repo = randomRepo("trust-moved");
      const image = await pushImage(testbed.open, repo, {}, "1.0");
      await signCosign(testbed.open, repo, image.digest, classicKey.privateKey, {
        payloadDigest: `sha256:${"9".repeat(64)}`,
      });
      const facts = await sourceFor([testbed.open.host]).gather(
        parseReference(`${testbed.open.host}/${repo}:1.0`),
      );
      expect(verifyTrust(facts, material, NOW).signatures).toEqual([
        expect.objectContaining({ kind: "cosign", status: "invalid" }),
      ]);
    });
  });
});
