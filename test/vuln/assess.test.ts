import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/index.js";
import type { CheckContext } from "../../src/checks/types.js";
import type { StatementRecord } from "../../src/trust/types.js";
import { assessVulnerabilities, reportNamesOtherImage } from "../../src/vuln/assess.js";
import { readTrivy } from "../../src/vuln/reports.js";
import {
  CONFIG_DIGEST,
  cleanContext,
  cleanFacts,
  cleanPolicy,
  cosignVulnPredicate,
  DIGEST,
  MANIFEST_DIGEST,
  trivyReport,
  trivyVuln,
  withScan,
} from "../support/facts.js";
import { readVectorJson } from "../support/vectors.js";

const vulnIds = (ctx: CheckContext) =>
  runChecks(cleanFacts(), ctx)
    .map((f) => f.id)
    .filter((id) => id.startsWith("vuln."));

function assess(ctx: CheckContext) {
  const f = cleanFacts();
  return assessVulnerabilities(f, { ...f.reference }, ctx.trust, ctx.policy, ctx.now);
}

/** A scan attestation pushed by someone else next to the image: cosign `.att`, signed by no trusted key. */
function unsignedScan(vulns: Record<string, unknown>[]): StatementRecord {
  return {
    foundVia: "tag:sha256-a1a1.att",
    artifactKind: "cosign-att",
    predicateType: "cosign.sigstore.dev/attestation/vuln/v1",
    predicate: cosignVulnPredicate(trivyReport(vulns)),
    signer: null,
    subjectMatches: true,
  };
}

const VEX_PRODUCT = `pkg:oci/app@${DIGEST.replace(":", "%3A")}`;
function vexStatement(signer: string | null): StatementRecord {
  return {
    foundVia: "referrers",
    artifactKind: "referrer",
    predicateType: "https://openvex.dev/ns/v0.2.0",
    predicate: {
      "@context": "https://openvex.dev/ns/v0.2.0",
      timestamp: "2026-11-29T00:00:00Z",
      statements: [
        {
          vulnerability: { name: "CVE-2024-0001" },
          products: [{ "@id": VEX_PRODUCT }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    },
    signer,
    subjectMatches: true,
  };
}

describe("assessVulnerabilities", () => {
  describe("when the only data is unsigned", () => {
    it("gives vuln.no-data for an unsigned scan that found nothing, never a clean bill", () => {
      const ctx = cleanContext();
      ctx.trust.statements = [unsignedScan([])];
      expect(vulnIds(ctx)).toEqual(["vuln.no-data"]);
      expect(assess(ctx)?.report.sources).toEqual([
        expect.objectContaining({ kind: "attestation", signedBy: null, scanner: "trivy 0.50.1" }),
      ]);
    });

    it("still reports what the unsigned scan found, and still gives vuln.no-data", () => {
      const ctx = cleanContext();
      ctx.trust.statements = [unsignedScan([trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")])];
      expect(vulnIds(ctx).sort()).toEqual(["vuln.critical", "vuln.no-data"]);
      expect(assess(ctx)?.report.counts.critical).toBe(1);
    });

    it("counts it as complete only when the policy says trustUnsigned", () => {
      const ctx = cleanContext();
      ctx.policy = cleanPolicy("vulnerabilities: { trustUnsigned: true }");
      ctx.trust.statements = [unsignedScan([])];
      expect(vulnIds(ctx)).toEqual([]);
    });
  });

  it("reads BuildKit's attestation as signed only while a trusted signature covers the index", () => {
    const ctx = cleanContext();
    expect(assess(ctx)?.report.sources[0]?.signedBy).toBe("release");
    ctx.trust.signatures[0]!.signedDigest = MANIFEST_DIGEST;
    expect(assess(ctx)?.report.sources[0]?.signedBy).toBeNull();
  });

  it("ignores a statement about another subject", () => {
    const ctx = cleanContext();
    ctx.trust.statements![0]!.subjectMatches = false;
    expect(vulnIds(ctx)).toEqual(["vuln.no-data"]);
  });

  it("gives a one-line reason and vuln.no-data for a hostile predicate", () => {
    const ctx = cleanContext();
    ctx.trust.statements![0]!.predicate = { scanner: { result: "x".repeat(1000) } };
    const a = assess(ctx);
    expect(a?.problems).toEqual([
      expect.stringMatching(/^vulnerability attestation index: scanner.result: /),
    ]);
    expect(vulnIds(ctx)).toEqual(["vuln.no-data"]);
  });

  describe("with VEX", () => {
    it("clears an item when a signed statement names this image", () => {
      const ctx = cleanContext();
      withScan(ctx, [trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")]);
      ctx.trust.statements!.push(vexStatement("release"));
      expect(vulnIds(ctx)).toEqual([]);
      expect(assess(ctx)?.report.items[0]).toMatchObject({
        status: "not_affected",
        vex: "vulnerable_code_not_in_execute_path",
      });
    });

    it("clears nothing when the VEX is unsigned", () => {
      const ctx = cleanContext();
      withScan(ctx, [trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")]);
      ctx.trust.statements!.push(vexStatement(null));
      expect(vulnIds(ctx)).toEqual(["vuln.critical"]);
      expect(assess(ctx)?.problems).toEqual([expect.stringContaining("is unsigned")]);
    });
  });

  describe("with an exception for one vulnerability", () => {
    const exception = (id: string, expires = "2027-01-31") =>
      `exceptions: [{ vulnerability: ${id}, image: "registry.example.com/acme/*", reason: parser never sees input, expires: ${expires} }]`;

    it("waives it by an alias, and counts it no more", () => {
      const ctx = cleanContext();
      ctx.policy = cleanPolicy(exception("GHSA-aaaa-bbbb-cccc"));
      withScan(ctx, [
        { ...trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0"), VendorIDs: ["GHSA-aaaa-bbbb-cccc"] },
      ]);
      expect(vulnIds(ctx)).toEqual([]);
      const a = assess(ctx);
      expect(a?.report.items[0]?.waived).toEqual({
        reason: "parser never sees input",
        expires: "2027-01-31",
      });
      expect(a?.report.counts.critical).toBe(0);
    });

    it("no longer waives it after its expiry", () => {
      const ctx = cleanContext();
      ctx.policy = cleanPolicy(exception("CVE-2024-0001", "2026-11-29"));
      withScan(ctx, [trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")]);
      expect(vulnIds(ctx)).toEqual(["vuln.critical"]);
    });
  });

  it("counts unfixed critical ones as vuln.critical when includeUnfixed", () => {
    const ctx = cleanContext();
    ctx.policy = cleanPolicy("vulnerabilities: { includeUnfixed: true }");
    withScan(ctx, [trivyVuln("CVE-2024-0003", "CRITICAL")]);
    expect(vulnIds(ctx)).toEqual(["vuln.critical"]);
  });

  it("is null, and fires nothing, when the policy's sources are []", () => {
    const ctx = cleanContext();
    ctx.policy = cleanPolicy("vulnerabilities: { sources: [] }");
    ctx.trust.statements = [];
    expect(assess(ctx)).toBeNull();
    expect(vulnIds(ctx)).toEqual([]);
  });

  it("orders items worst first", () => {
    const ctx = cleanContext();
    withScan(ctx, [
      trivyVuln("CVE-2024-0004", "LOW", "1"),
      trivyVuln("CVE-2024-0003", "CRITICAL"),
      trivyVuln("CVE-2024-0001", "CRITICAL", "2"),
      trivyVuln("CVE-2024-0002", "HIGH", "2"),
    ]);
    expect(assess(ctx)?.report.items.map((i) => i.id)).toEqual([
      "CVE-2024-0001",
      "CVE-2024-0003",
      "CVE-2024-0002",
      "CVE-2024-0004",
    ]);
  });
});

describe("reportNamesOtherImage", () => {
  const facts = { digest: DIGEST, manifestDigest: MANIFEST_DIGEST, configDigest: CONFIG_DIGEST };

  it("accepts a report naming this image's config digest", () => {
    const r = readTrivy(trivyReport([]));
    expect(r.ok && reportNamesOtherImage(r.value, facts)).toBe(false);
  });

  it("refuses Trivy's golden, which names another image", () => {
    const r = readTrivy(readVectorJson("vuln/trivy/debian-buster.json.golden"));
    expect(r.ok && reportNamesOtherImage(r.value, facts)).toBe(true);
  });
});
