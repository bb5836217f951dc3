import { describe, expect, it } from "vitest";
import { defaultPolicy } from "../../src/policy/schema.js";
import { trustMaterialFromPolicy } from "../../src/trust/material.js";
import { hasTrustArtifacts, unsignedTrust } from "../../src/trust/unsigned.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { cleanFacts, NOW } from "../support/facts.js";

describe("unsignedTrust", () => {
  const material = trustMaterialFromPolicy(defaultPolicy());

  it.each(["registry.example.com", "docker.io"])(
    "reports what verifyTrust reports for an image from %s with nothing to verify",
    (registry) => {
      const base = cleanFacts();
      const facts = { ...base, reference: { ...base.reference, registry }, signatures: [], attestations: [] };
      expect(hasTrustArtifacts(facts)).toBe(false);
      expect(unsignedTrust(facts)).toEqual(verifyTrust(facts, material, NOW));
    },
  );

  it("is not used when the image has signatures, attestations or notary data", () => {
    const base = { ...cleanFacts(), signatures: [], attestations: [] };
    expect(cleanFacts().signatures.length).toBeGreaterThan(0);
    expect(hasTrustArtifacts({ ...base, signatures: cleanFacts().signatures })).toBe(true);
    expect(hasTrustArtifacts({ ...base, attestations: cleanFacts().attestations })).toBe(
      cleanFacts().attestations.length > 0,
    );
    expect(hasTrustArtifacts({ ...base, notary: { server: "https://notary.example.com" } as never })).toBe(
      true,
    );
  });
});
