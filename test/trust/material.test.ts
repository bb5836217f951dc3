import { describe, expect, it } from "vitest";
import { policySchema } from "../../src/policy/schema.js";
import { DEFAULT_TRUSTED_ROOT, trustMaterialFromPolicy } from "../../src/trust/material.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { readVectorJson, readVectorText } from "../support/vectors.js";

const KEY = readVectorText("containers-image-cosign/cosign.pub");
const CERT = readVectorText("containers-image-cosign/fulcio-cert");

describe("trustMaterialFromPolicy", () => {
  describe("when the policy sets no trust", () => {
    const material = trustMaterialFromPolicy(policySchema.parse({}));

    it("trusts no key or identity and ships the Sigstore public-good root", () => {
      expect(material).toMatchObject({ keys: [], keyless: [], notary: [], notationCerts: [] });
      expect(material.trustedRoot).toBe(DEFAULT_TRUSTED_ROOT);
    });

    it("ships a root holding Fulcio, Rekor, CT log and TSA entries", () => {
      expect(DEFAULT_TRUSTED_ROOT).toMatchObject({
        mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        tlogs: expect.any(Array),
        certificateAuthorities: expect.any(Array),
        ctlogs: expect.any(Array),
        timestampAuthorities: expect.any(Array),
      });
    });
  });

  describe("when the policy names keys, identities, a root and notary servers", () => {
    const policy = policySchema.parse({
      trust: {
        keys: [
          { name: "release", pem: KEY },
          { name: "notation-ca", pem: CERT },
          { name: "unresolved", path: "./keys/other.pub" },
        ],
        keyless: [
          {
            issuer: "https://token.actions.githubusercontent.com",
            subject: "^https://github\\.com/acme/.*$",
          },
        ],
        notary: [{ registry: "docker.io", server: "https://notary.docker.io" }],
      },
    });
    const root = readVectorJson("cosign/trusted_root_pgi.json");
    const material = trustMaterialFromPolicy(policy, root);

    it("keeps the keys with a PEM, in order", () => {
      expect(material.keys.map((k) => k.name)).toEqual(["release", "notation-ca"]);
    });

    it("adds certificate keys to the Notation trust store", () => {
      expect(material.notationCerts).toEqual([CERT]);
    });

    it("fails closed when the policy names a root file that was not loaded", () => {
      const named = policySchema.parse({ trust: { trustedRoot: "./root.json" } });
      const unloaded = trustMaterialFromPolicy(named);
      expect(unloaded.trustedRoot).not.toBe(DEFAULT_TRUSTED_ROOT);
      const report = verifyTrust(
        { reference: { registry: "r", repository: "a", original: "r/a" }, signatures: [], attestations: [] },
        unloaded,
        new Date(),
      );
      expect(report.notes).toEqual([expect.stringContaining("./root.json was not loaded")]);
    });

    it("copies identities and notary servers and uses the given root", () => {
      expect(material.keyless).toEqual(policy.trust.keyless);
      expect(material.notary).toEqual([{ registry: "docker.io", server: "https://notary.docker.io" }]);
      expect(material.trustedRoot).toBe(root);
    });
  });

  describe("when a notary server pins its root key id", () => {
    const rootKeyId = "9e3d2f9997b98d1de195a24d46c99641cfb9022fd65c67c9e8c62183c6c673a4";

    it("copies the pin", () => {
      const policy = policySchema.parse({
        trust: { notary: [{ registry: "docker.io", server: "https://notary.docker.io", rootKeyId }] },
      });
      expect(trustMaterialFromPolicy(policy).notary).toEqual([
        { registry: "docker.io", server: "https://notary.docker.io", rootKeyId },
      ]);
    });

    it.each([rootKeyId.slice(0, 12), rootKeyId.toUpperCase(), `${rootKeyId}0`])(
      "refuses a pin that is not a whole key id (%s)",
      (id) => {
        const parsed = policySchema.safeParse({
          trust: { notary: [{ registry: "docker.io", server: "https://notary.docker.io", rootKeyId: id }] },
        });
        expect(parsed.success).toBe(false);
      },
    );
  });
});
