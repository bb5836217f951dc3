import { describe, expect, it } from "vitest";
import { parseJson } from "../../src/trust/parse.js";
import { bandOf, cvss3BaseScore } from "../../src/vuln/cvss.js";
import { applyVex, readOpenVex } from "../../src/vuln/openvex.js";
import { cveAliases, osvItems } from "../../src/vuln/osv.js";
import {
  readCosignVuln,
  readGrype,
  readIntotoVulns,
  readScanReport,
  readTrivy,
} from "../../src/vuln/reports.js";
import { osvQueryFor, sbomPackages } from "../../src/vuln/sbom.js";
import type { VulnItem } from "../../src/vuln/types.js";
import { readVectorJson, readVectorText } from "../support/vectors.js";

const V = "vuln/";

describe("cvss3BaseScore", () => {
  // Scores as NVD and FIRST's calculator give them.
  it.each([
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8],
    ["CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8],
    ["CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9],
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10],
    ["CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 5.4],
    ["CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6],
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0],
  ])("when given %s it scores %s", (vector, score) => {
    expect(cvss3BaseScore(vector)).toBe(score);
  });

  it.each([
    ["a CVSS v2 vector", "AV:N/AC:L/Au:N/C:P/I:P/A:P"],
    ["a metric missing", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"],
    ["a metric repeated", "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
    ["an unknown value", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
    ["a prototype key", "CVSS:3.1/AV:constructor/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
  ])("when given %s it gives null", (_what, vector) => {
    expect(cvss3BaseScore(vector)).toBeNull();
  });

  it("bands scores as the spec does", () => {
    expect([9, 8.9, 7, 6.9, 4, 3.9, 0.1, 0].map(bandOf)).toEqual([
      "critical",
      "high",
      "high",
      "medium",
      "medium",
      "low",
      "low",
      "unknown",
    ]);
  });
});

describe("readTrivy", () => {
  it("reads Trivy's debian-buster golden: one critical with a fix, one low without", () => {
    const r = readTrivy(readVectorJson(`${V}trivy/debian-buster.json.golden`));
    expect(r.ok && r.value.scanner).toBe("trivy dev");
    expect(r.ok && r.value.scannedAt).toBe("2021-08-25T12:20:30.000Z");
    expect(r.ok && r.value.digests).toEqual([
      "sha256:c2c03a296d2329a4f3ab72a7bf38b78a8a80108204d326b0139d6af700e152d1",
    ]);
    const items = r.ok ? r.value.items : [];
    expect(items.map((i) => [i.id, i.package, i.installed, i.fixed, i.severity])).toEqual([
      ["CVE-2019-18276", "bash", "5.0-4", null, "low"],
      ["CVE-2019-18224", "libidn2-0", "2.0.5-1", "2.0.5-1+deb10u1", "critical"],
    ]);
    expect(items[0]).toMatchObject({
      cvss: 7.8,
      purl: "pkg:deb/debian/bash@5.0-4?arch=amd64&distro=debian-10.1",
    });
  });

  it("reads Trivy's alpine-310 golden: four medium items", () => {
    const r = readScanReport(readVectorJson(`${V}trivy/alpine-310.json.golden`));
    expect(r.ok && r.value.items.map((i) => i.severity)).toEqual(["medium", "medium", "medium", "medium"]);
  });
});

describe("readGrype", () => {
  it("reads real Grype 0.66.0 output: six low items in nss packages, none fixed", () => {
    const r = readGrype(readVectorJson(`${V}grype/keycloak-test.json`));
    expect(r.ok && r.value.scanner).toBe("grype 0.66.0");
    expect(r.ok && r.value.digests).toContain(
      "sha256:347a0d748d05a050dc64b92de2246d2240db6eb38afbc17c3c08d0acb0db1b50",
    );
    const items = r.ok ? r.value.items : [];
    expect(items).toHaveLength(6);
    expect(items.every((i) => i.id === "CVE-2020-12413" && i.severity === "low" && i.fixed === null)).toBe(
      true,
    );
    expect(items[0]).toMatchObject({ package: "nspr", cvss: 5.9 });
  });

  it("reads Grype's snapshot golden: fix versions when the state is fixed", () => {
    const r = readScanReport(readVectorJson(`${V}grype/TestJsonImgsPresenter.golden`));
    const items = r.ok ? r.value.items : [];
    expect(items.map((i) => [i.id, i.severity, i.fixed])).toEqual([
      ["CVE-1999-0001", "low", "1.2.1"],
      ["CVE-1999-0002", "critical", null],
    ]);
  });
});

describe("readCosignVuln", () => {
  it("reads Trivy's cosign-vuln output (CreatedAt as Unix seconds): one critical apk-tools item", () => {
    const r = readCosignVuln(readVectorJson(`${V}trivy/cosign-vuln-alpine-3.10.docs.extracted.json`));
    expect(r.ok && r.value.items.map((i) => [i.id, i.package, i.installed, i.fixed, i.severity])).toEqual([
      ["CVE-2021-36159", "apk-tools", "2.10.6-r0", "2.10.7-r0", "critical"],
    ]);
    expect(r.ok && r.value.scanner).toMatch(/^trivy /);
  });

  it("reads the cosign spec's example, whose predicate is wrapped: two high busybox items", () => {
    const doc = readVectorJson(`${V}cosign/spec-example-vuln-predicate.extracted.json`) as {
      predicate: unknown;
    };
    const r = readCosignVuln(doc.predicate);
    expect(r.ok && r.value.items.map((i) => [i.id, i.package, i.severity, i.fixed])).toEqual([
      ["CVE-2021-28831", "busybox", "high", "1.32.1-r4"],
      ["CVE-2021-28831", "ssl_client", "high", "1.32.1-r4"],
    ]);
  });

  it("reads cosign's own test predicate, whose result is null, as a scan that found nothing", () => {
    const r = readCosignVuln(readVectorJson(`${V}cosign/vuln-predicate.json`));
    expect(r.ok && r.value).toMatchObject({ items: [], scannedAt: "2022-04-12T00:10:00.000Z" });
  });

  it.each([
    ["no scanner", {}],
    ["a result that is no report", { scanner: { result: { hello: 1 } } }],
    [
      "a report with too many items",
      {
        scanner: {
          result: { SchemaVersion: 2, Results: [{ Vulnerabilities: new Array(100_001).fill({}) }] },
        },
      },
    ],
  ])("when the predicate has %s it gives a one-line reason", (_what, predicate) => {
    const r = readCosignVuln(predicate);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).not.toContain("\n");
  });
});

describe("readIntotoVulns", () => {
  it("refuses the spec's example, which is not JSON (upstream as-is), with a one-line reason", () => {
    const parsed = parseJson(readVectorText(`${V}in-toto/vulns-v0.1-example.extracted.jsonc`));
    expect(parsed).toEqual({ ok: false, reason: "not valid JSON" });
  });

  it("reads the spec's shape: ids with a cvss score", () => {
    const r = readIntotoVulns({
      scanner: {
        uri: "pkg:github/aquasecurity/trivy@244fd47e07d1004f0aed9",
        version: "0.19.2",
        result: [{ id: "CVE-123", severity: [{ method: "nvd", score: "5.2" }] }],
      },
      metadata: { scanStartedOn: "2022-04-12T00:00:00Z", scanFinishedOn: "2022-04-12T00:10:00Z" },
    });
    expect(r.ok && r.value).toMatchObject({
      scanner: "trivy 0.19.2",
      items: [{ id: "CVE-123", severity: "medium", cvss: 5.2 }],
    });
  });
});

const item = (id: string, purl: string, aliases: string[] = []): VulnItem => ({
  id,
  aliases,
  package: "libssl3",
  purl,
  installed: "3.0.8-r3",
  fixed: "3.0.8-r4",
  severity: "high",
  cvss: null,
  status: "affected",
});

describe("OpenVEX", () => {
  const alpine = {
    digests: ["sha256:124c7d2707904eea7431fffe91522a01e5a861a624ee31d03372cc1d138a3126"],
    repository: "docker.io/library/alpine",
  };

  it("reads go-vex's document and clears only what names this image and package", () => {
    const vex = readOpenVex(readVectorJson(`${V}openvex/go-vex-v0.2.0.json`));
    expect(vex.ok && vex.value.statements).toHaveLength(5);
    const items = [
      item("CVE-2023-3446", "pkg:apk/alpine/libssl3@3.0.8-r3?arch=x86_64"),
      item("CVE-2023-3446", "pkg:apk/alpine/openssl@3.0.8-r3"),
      item("CVE-2023-9999", "pkg:apk/alpine/libssl3@3.0.8-r3"),
    ];
    const applied = applyVex(items, vex.ok ? vex.value.statements : [], alpine);
    expect(applied.map((i) => [i.status, i.vex])).toEqual([
      ["not_affected", "vulnerable_code_not_present"],
      ["affected", undefined],
      ["affected", undefined],
    ]);
  });

  it("applies nothing to another image's digest", () => {
    const vex = readOpenVex(readVectorJson(`${V}openvex/go-vex-v0.2.0.json`));
    const other = { ...alpine, digests: [`sha256:${"0".repeat(64)}`] };
    const applied = applyVex(
      [item("CVE-2023-3446", "pkg:apk/alpine/libssl3@3.0.8-r3")],
      vex.ok ? vex.value.statements : [],
      other,
    );
    expect(applied[0]!.status).toBe("affected");
  });

  it("matches Trivy's version-less product and package purls by name", () => {
    const vex = readOpenVex(readVectorJson(`${V}openvex/trivy-openvex-oci.json`));
    const debian = { digests: [], repository: "docker.io/library/debian" };
    const applied = applyVex(
      [item("CVE-2022-3715", "pkg:deb/debian/bash@5.2.15-2?arch=amd64")],
      vex.ok ? vex.value.statements : [],
      debian,
    );
    expect(applied[0]!.status).toBe("not_affected");
  });

  it("lets the newest statement win, and ignores not_affected without a justification", () => {
    const product = `pkg:oci/alpine@${alpine.digests[0]!.replace(":", "%3A")}`;
    const doc = (statements: object[]) => ({
      "@context": "https://openvex.dev/ns/v0.2.0",
      timestamp: "2024-01-01T00:00:00Z",
      statements,
    });
    const st = (status: string, timestamp: string, extra = {}) => ({
      vulnerability: { name: "CVE-1" },
      products: [{ "@id": product }],
      status,
      timestamp,
      ...extra,
    });
    const newerAffected = readOpenVex(
      doc([
        st("affected", "2024-03-01T00:00:00Z"),
        st("not_affected", "2024-02-01T00:00:00Z", { justification: "component_not_present" }),
      ]),
    );
    expect(
      applyVex(
        [item("CVE-1", "pkg:apk/alpine/x@1")],
        newerAffected.ok ? newerAffected.value.statements : [],
        alpine,
      )[0]!.status,
    ).toBe("affected");
    const bare = readOpenVex(doc([st("not_affected", "2024-02-01T00:00:00Z")]));
    expect(bare.ok && bare.value).toMatchObject({ statements: [], skipped: 1 });
  });
});

describe("SBOM packages as OSV queries", () => {
  it.each([
    [
      "pkg:apk/alpine/busybox-binsh@1.36.1-r28?arch=aarch64&upstream=busybox&distro=alpine-3.20.0",
      "Alpine:v3.20",
      "busybox",
      "1.36.1-r28",
    ],
    [
      "pkg:alpine/apk-tools@2.12.7-r3?arch=x86_64&upstream=apk-tools&distro=alpine-3.15.4",
      "Alpine:v3.15",
      "apk-tools",
      "2.12.7-r3",
    ],
    [
      "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&upstream=glibc&distro=debian-12",
      "Debian:12",
      "glibc",
      "2.36-9+deb12u4",
    ],
    [
      "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12",
      "Debian:12",
      "openssl",
      "3.0.11-1~deb12u2",
    ],
    ["pkg:npm/%40babel/core@7.24.0", "npm", "@babel/core", "7.24.0"],
    ["pkg:npm/lodash@4.17.20", "npm", "lodash", "4.17.20"],
    ["pkg:pypi/django@4.2.1", "PyPI", "django", "4.2.1"],
    ["pkg:golang/github.com/gorilla/mux@v1.8.0", "Go", "github.com/gorilla/mux", "1.8.0"],
    ["pkg:golang/stdlib@go1.22.1", "Go", "stdlib", "1.22.1"],
    [
      "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
      "Maven",
      "org.apache.logging.log4j:log4j-core",
      "2.14.1",
    ],
    ["pkg:cargo/smallvec@1.6.0", "crates.io", "smallvec", "1.6.0"],
    ["pkg:gem/rack@2.2.3", "RubyGems", "rack", "2.2.3"],
    ["pkg:nuget/Newtonsoft.Json@12.0.1", "NuGet", "Newtonsoft.Json", "12.0.1"],
    ["pkg:composer/laravel/framework@8.0.0", "Packagist", "laravel/framework", "8.0.0"],
  ])("when given %s it asks for %s %s %s", (purl, ecosystem, name, version) => {
    expect(osvQueryFor(purl)).toEqual({ package: { ecosystem, name }, version });
  });

  it.each([
    ["no distro", "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64"],
    ["an ecosystem not asked about here", "pkg:rpm/rhel/nss@3.79.0?distro=rhel-9.1"],
    ["no version", "pkg:apk/alpine/musl?distro=alpine-3.20.0"],
    ["no version (a language package)", "pkg:npm/lodash"],
  ])("when the purl has %s it asks nothing", (_what, purl) => {
    expect(osvQueryFor(purl)).toBeUndefined();
  });

  it("reads syft's SPDX and CycloneDX SBOMs of alpine 3.20 alike: 14 packages, source names", () => {
    const spdx = sbomPackages(readVectorJson(`${V}sbom/alpine.spdx-2-3.json`));
    const cdx = sbomPackages(readVectorJson(`${V}sbom/alpine.cyclonedx.json`));
    expect(spdx.ok && spdx.value.packages).toHaveLength(14);
    const names = (r: typeof spdx) => (r.ok ? r.value.packages.map((p) => p.query.package.name).sort() : []);
    expect(names(cdx)).toEqual(names(spdx));
    expect(names(spdx)).toContain("openssl");
    expect(names(spdx)).not.toContain("libssl3");
    expect(spdx.ok && spdx.value.packages.every((p) => p.query.package.ecosystem === "Alpine:v3.20")).toBe(
      true,
    );
  });

  it("refuses an SBOM with 100k packages with a one-line reason", () => {
    const packages = Array.from({ length: 100_000 }, (_, i) => ({ name: `p${i}` }));
    const r = sbomPackages({ spdxVersion: "SPDX-2.3", packages });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^SBOM lists more than 20000 packages/);
  });
});

describe("osvItems", () => {
  const pkg = {
    query: { package: { ecosystem: "Debian:7", name: "nginx" }, version: "1.2.1-2.2+wheezy2" },
    purl: "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=debian-7",
  };

  it("takes the fixed version for the package's ecosystem, and the severity of the CVE alias", () => {
    const dsa = readVectorJson(`${V}osv/records/DSA-3029-1.json`);
    const cve = {
      id: "CVE-2014-3616",
      severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N" }],
    };
    expect(cveAliases(dsa)).toEqual(["CVE-2014-3616"]);
    const items = osvItems(
      [pkg],
      [[{ id: "DSA-3029-1" }]],
      new Map([
        ["DSA-3029-1", dsa],
        ["CVE-2014-3616", cve],
      ]),
    );
    expect(items).toEqual([
      expect.objectContaining({
        id: "DSA-3029-1",
        aliases: ["CVE-2014-3616"],
        package: "nginx",
        installed: "1.2.1-2.2+wheezy2",
        fixed: "1.2.1-2.2+wheezy3",
        severity: "low",
        cvss: 3.7,
      }),
    ]);
  });

  it("picks the Alpine release's own fixed version from a record covering several", () => {
    const record = readVectorJson(`${V}osv/records/CVE-2022-27449.json`);
    const alpine = {
      query: { package: { ecosystem: "Alpine:v3.16", name: "mariadb" }, version: "10.6.7-r0" },
      purl: "pkg:apk/alpine/mariadb@10.6.7-r0?distro=alpine-3.16.0",
    };
    const items = osvItems([alpine], [[{ id: "CVE-2022-27449" }]], new Map([["CVE-2022-27449", record]]));
    expect(items[0]!.fixed).toBe("10.6.8-r0");
  });
});
