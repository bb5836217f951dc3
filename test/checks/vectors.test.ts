/**
 * The real signature vectors (../shared/vectors) through the whole judging path: facts as the
 * gatherer would hold them, the policy's trust material, verifyTrust, every check and the policy
 * evaluator, down to the contract's check ids and the verdict.
 */
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/index.js";
import type { CheckContext, Finding } from "../../src/checks/types.js";
import type { ImageFacts, NotaryFacts, SignatureArtifact } from "../../src/facts/model.js";
import { evaluate } from "../../src/policy/evaluate.js";
import { trustMaterialFromPolicy } from "../../src/trust/material.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { cleanFacts, cleanPolicy, NOW } from "../support/facts.js";
import { bundleArtifact } from "../support/signing.js";
import {
  cosignVector,
  readVector,
  readVectorJson,
  readVectorText,
  sha256Digest,
} from "../support/vectors.js";

const SIGNATURE_IDS = ["trust.signed", "trust.unsigned", "trust.untrusted-signer", "trust.signature-invalid"];

/** The clean image, as one platform manifest at `digest`, carrying `signatures` (and `notary`). */
function factsFor(
  digest: string,
  opts: {
    signatures?: SignatureArtifact[];
    notary?: NotaryFacts;
    registry?: string;
    repository?: string;
    tag?: string;
  } = {},
): ImageFacts {
  const facts = cleanFacts();
  const registry = opts.registry ?? facts.reference.registry;
  const repository = opts.repository ?? facts.reference.repository;
  const tag = opts.tag ?? facts.reference.tag!;
  facts.reference = {
    registry,
    repository,
    tag,
    digest,
    original: `${registry}/${repository}:${tag}@${digest}`,
  };
  facts.digest = digest;
  facts.manifestDigest = digest;
  facts.mediaType = "application/vnd.oci.image.manifest.v1+json";
  facts.signatures = opts.signatures ?? [];
  if (opts.notary) facts.notary = opts.notary;
  return facts;
}

/** What the pipeline does with facts: trust material from the policy, verifyTrust, every check, the verdict. */
function judge(
  facts: ImageFacts,
  trust: {
    keys?: { name: string; pem: string }[];
    keyless?: { issuer: string; subject: string }[];
    notary?: { registry: string; server: string; rootKeyId?: string }[];
    root?: unknown;
  } = {},
): { ids: string[]; findings: Finding[]; verdict: string } {
  const policy = cleanPolicy();
  policy.trust.keys = trust.keys ?? [];
  policy.trust.keyless = trust.keyless ?? [];
  policy.trust.notary = trust.notary ?? [];
  // These vectors are about signatures; the images carry no vulnerability data to judge.
  policy.vulnerabilities.sources = [];
  const material = trustMaterialFromPolicy(policy, trust.root);
  const ctx: CheckContext = {
    policy,
    now: NOW,
    trust: verifyTrust(facts, material, NOW),
    lastKnownDigest: facts.digest,
  };
  const findings = runChecks(facts, ctx);
  const { verdict } = evaluate(findings, policy, facts.reference, NOW);
  return {
    ids: findings
      .map((f) => f.id)
      .filter((id) => SIGNATURE_IDS.includes(id))
      .sort(),
    findings,
    verdict,
  };
}

describe("the signature vectors, judged end to end", () => {
  describe("containers/image's cosign key signature", () => {
    const { digest, artifact } = cosignVector("containers-image-cosign/dir-img-cosign-valid");
    const release = { name: "release", pem: readVectorText("containers-image-cosign/cosign.pub") };

    it("is trust.signed by the key the policy lists", () => {
      const { ids, findings, verdict } = judge(factsFor(digest, { signatures: [artifact] }), {
        keys: [release],
      });
      expect(ids).toEqual(["trust.signed"]);
      expect(findings.find((f) => f.id === "trust.signed")?.title).toBe("Signed by release");
      expect(verdict).toBe("pass");
    });

    it("is trust.signature-invalid on a tampered manifest (its signature copied to another digest)", () => {
      const manifest = JSON.parse(
        readVectorText("containers-image-cosign/dir-img-cosign-valid/manifest.json"),
      );
      manifest.config.size += 1;
      const tampered = sha256Digest(Buffer.from(JSON.stringify(manifest)));
      const copied: SignatureArtifact = {
        ...artifact,
        foundVia: `tag:${tampered.replace(":", "-")}.sig`,
        subjectDigest: tampered,
      };
      const { ids, verdict } = judge(factsFor(tampered, { signatures: [copied] }), { keys: [release] });
      expect(ids).toEqual(["trust.signature-invalid"]);
      expect(verdict).toBe("block");
    });

    it("is trust.untrusted-signer when the policy lists another key", () => {
      const other = { name: "other", pem: readVectorText("containers-image-cosign/cosign2.pub") };
      const { ids, verdict } = judge(factsFor(digest, { signatures: [artifact] }), { keys: [other] });
      expect(ids).toEqual(["trust.untrusted-signer"]);
      expect(verdict).toBe("review");
    });
  });

  describe("cosign's keyless Sigstore bundle", () => {
    const bundle = readVectorJson("cosign/oci-attestation.sigstore.json");
    const root = readVectorJson("cosign/trusted_root_pgi.json");
    const digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    const identity = { issuer: "https://github.com/login/oauth", subject: "cody@soyland.com" };

    it("is trust.signed by the identity the policy trusts, against its trusted root", () => {
      const facts = factsFor(digest, { signatures: [bundleArtifact(digest, bundle)] });
      const { ids, findings } = judge(facts, { keyless: [identity], root });
      expect(ids).toEqual(["trust.signed"]);
      expect(findings.find((f) => f.id === "trust.signed")?.title).toBe(
        "Signed by cody@soyland.com (https://github.com/login/oauth)",
      );
    });
  });

  describe("notary 0.7.0's Docker Content Trust metadata", () => {
    const dir = "notary-v1/local-notary-0.7.0";
    const digest = sha256Digest(readVector(`${dir}/manifest.json`));
    const server = "http://127.0.0.1:4443";
    const registry = "127.0.0.1:15099";
    const rootKeyId = "9e3d2f9997b98d1de195a24d46c99641cfb9022fd65c67c9e8c62183c6c673a4";
    const file = (role: string) => readVector(`${dir}/${role}.json`).toString("base64");
    const notary: NotaryFacts = {
      server,
      gun: `${registry}/probe/app`,
      root: file("root"),
      timestamp: file("timestamp"),
      snapshot: file("snapshot"),
      targets: file("targets"),
    };
    // NOW (2026-11-30) is before timestamp.json expires (2026-12-14).
    const facts = () => factsFor(digest, { notary, registry, repository: "probe/app", tag: "v1" });

    it("is trust.signed when the policy pins its root key", () => {
      const { ids, findings } = judge(facts(), { notary: [{ registry, server, rootKeyId }] });
      expect(ids).toEqual(["trust.signed"]);
      expect(findings.find((f) => f.id === "trust.signed")?.detail).toContain("root key the policy pins");
    });

    it("is not trust.signed, and not a pass, when the root is only trusted on first use", () => {
      const { ids, verdict } = judge(facts(), { notary: [{ registry, server }] });
      expect(ids).toEqual(["trust.untrusted-signer"]);
      expect(verdict).not.toBe("pass");
    });
  });
});
