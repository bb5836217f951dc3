import { describe, expect, it } from "vitest";
import { trustChecks } from "../../src/checks/trust.js";
import type { Finding } from "../../src/checks/types.js";
import type { SignatureVerification, TrustReport } from "../../src/trust/types.js";
import { cleanContext, cleanFacts, cleanTrust } from "../support/facts.js";

const ids = (fs: Finding[]) => fs.map((f) => f.id).sort();
const sig = (
  status: SignatureVerification["status"],
  extra: Partial<SignatureVerification> = {},
): SignatureVerification => ({
  kind: "cosign",
  foundVia: "tag:sha256-abc.sig",
  status,
  detail: `status ${status}`,
  ...extra,
});

function run(trust: Partial<TrustReport>, change?: (f: ReturnType<typeof cleanFacts>) => void): Finding[] {
  const facts = cleanFacts();
  change?.(facts);
  return trustChecks(facts, { ...cleanContext(), trust: { ...cleanTrust(), ...trust } });
}

describe("trust checks", () => {
  it("report the verified signer for the clean image", () => {
    const fs = run({});
    expect(ids(fs)).toEqual(["trust.signed"]);
    expect(fs[0]!.title).toBe("Signed by release");
    expect(fs[0]!.evidence.signatures).toEqual([
      expect.objectContaining({ signer: "release", status: "verified" }),
    ]);
  });

  it.each<[SignatureVerification["kind"], string]>([
    ["cosign", "against a key or keyless identity the policy trusts"],
    ["sigstore-bundle", "against a key or keyless identity the policy trusts"],
    ["notation", "against a certificate in the policy's Notation trust store"],
    ["notary-v1", "whose root key the policy pins"],
  ])("trust.signed says what a %s signature was verified against", (kind, anchor) => {
    const fs = run({ signatures: [sig("verified", { kind, signer: "release", detail: "how it verified" })] });
    expect(fs[0]!.id).toBe("trust.signed");
    expect(fs[0]!.detail).toContain(anchor);
    expect(fs[0]!.detail).toContain("how it verified");
  });

  it("trust.unsigned fires when no signature of any kind was found", () => {
    expect(ids(run({ signatures: [] }, (f) => (f.signatures = [])))).toEqual(["trust.unsigned"]);
  });

  it("trust.unsigned does not fire when the signature look-up failed", () => {
    const fs = run({ signatures: [] }, (f) => {
      f.signatures = [];
      f.incomplete = [{ part: "signatures", code: "SERVER_ERROR", message: "500" }];
    });
    expect(ids(fs)).toEqual([]);
  });

  it.each(["untrusted", "unverified"] as const)(
    "trust.untrusted-signer fires when the only signatures are %s",
    (status) => {
      expect(ids(run({ signatures: [sig(status)] }))).toEqual(["trust.untrusted-signer"]);
    },
  );

  it("trust.untrusted-signer fires for signatures the trust layer did not judge", () => {
    expect(ids(run({ signatures: [] }))).toEqual(["trust.untrusted-signer"]);
  });

  it("trust.untrusted-signer does not fire when another signature verifies", () => {
    expect(ids(run({ signatures: [sig("untrusted"), sig("verified", { signer: "release" })] }))).toEqual([
      "trust.signed",
    ]);
  });

  it("trust.signature-invalid fires for a broken signature, even next to a good one", () => {
    const fs = run({
      signatures: [
        sig("invalid", { detail: "payload names sha256:other" }),
        sig("verified", { signer: "release" }),
      ],
    });
    expect(ids(fs)).toEqual(["trust.signature-invalid", "trust.signed"]);
    expect(fs.find((f) => f.id === "trust.signature-invalid")!.detail).toContain(
      "payload names sha256:other",
    );
  });

  it("trust.signature-invalid alone does not also claim an untrusted signer", () => {
    expect(ids(run({ signatures: [sig("invalid")] }))).toEqual(["trust.signature-invalid"]);
  });

  it("trust.no-sbom fires without an SBOM attestation", () => {
    const t = cleanTrust();
    expect(ids(run({ attestations: t.attestations.filter((a) => !a.kind.startsWith("sbom")) }))).toEqual([
      "trust.no-sbom",
      "trust.signed",
    ]);
  });

  it("trust.no-sbom ignores an SBOM about another digest", () => {
    const t = cleanTrust();
    const atts = t.attestations.map((a) => (a.kind === "sbom-spdx" ? { ...a, subjectMatches: false } : a));
    expect(ids(run({ attestations: atts }))).toEqual(["trust.no-sbom", "trust.signed"]);
  });
});
