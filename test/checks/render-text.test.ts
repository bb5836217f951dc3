import { describe, expect, it } from "vitest";
import { clean, renderReportText } from "../../src/cli/render-text.js";
import { cleanContext, cleanFacts, cleanPolicy, reportFor, trivyVuln, withScan } from "../support/facts.js";

function report() {
  const facts = cleanFacts();
  facts.reference = { ...facts.reference, tag: "stable" };
  facts.config.user = "";
  facts.config.labels["org.opencontainers.image.title"] = "app\x1b[2J\x1b]0;pwned\x07";
  facts.history.push({
    createdBy: `RUN |1 GITHUB_TOKEN=ghp_${"x1Y2z3".repeat(6)} /bin/sh -c make # buildkit`,
    emptyLayer: false,
  });
  const ctx = cleanContext();
  ctx.policy = cleanPolicy(
    "exceptions:\n  - check: config.root-user\n    image: registry.example.com/acme/app:*\n    reason: drops privileges after start\n    expires: 2027-03-31\n",
  );
  return { ...reportFor(facts, ctx), policyVersion: "0123456789ab" };
}

describe("renderReportText", () => {
  it("shows the verdict, findings by severity, waivers, the pinned reference and how to run it", () => {
    const text = renderReportText(report(), { color: false });
    expect(text).toMatchSnapshot();
    expect(text).toContain("waived until 2027-03-31: drops privileges after start");
    expect(text.indexOf("HIGH")).toBeLessThan(text.indexOf("INFO"));
  });

  it("uses no escape codes without colour", () => {
    expect(renderReportText(report(), { color: false })).not.toContain("\x1b");
  });

  it("colours the verdict and severities when asked", () => {
    const text = renderReportText(report(), { color: true });
    expect(text.startsWith("\x1b[1m\x1b[33mREVIEW")).toBe(true);
  });

  it("neutralizes control characters from the image", () => {
    expect(clean("a\x1b[2Jb\x07c\u202ed")).toBe("a?[2Jb?c?d");
  });
});

describe("renderReportText's vulnerabilities", () => {
  function vulnReport() {
    const ctx = cleanContext();
    withScan(ctx, [
      trivyVuln("CVE-2024-0002", "HIGH", "3.3.2-r0"),
      { ...trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r1", "libssl3"), PkgName: "libssl3\x1b[2J" },
      trivyVuln("CVE-2024-0005", "MEDIUM"),
    ]);
    return renderReportText(reportFor(cleanFacts(), ctx), { color: false });
  }

  it("shows the counts, the source, then the worst items with installed -> fixed", () => {
    const text = vulnReport();
    const section = text.slice(text.indexOf("Vulnerabilities"));
    expect(section).toContain("1 critical, 1 high, 1 medium, 0 low, 0 unknown");
    expect(section).toContain("from: attestation (trivy 0.50.1, 2026-11-29) signed by release");
    expect(section.indexOf("CVE-2024-0001")).toBeLessThan(section.indexOf("CVE-2024-0002"));
    expect(section).toContain("3.3.1-r0 -> 3.3.2-r1");
    expect(section).toContain("CVE-2024-0005        openssl 3.3.1-r0 (no fix yet)");
  });

  it("never passes a control character from the scan to the terminal", () => {
    const text = vulnReport();
    expect(text).not.toContain("\x1b");
    expect(text).toContain("libssl3 [2J 3.3.1-r0 -> 3.3.2-r1");
  });
});
