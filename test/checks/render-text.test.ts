import { describe, expect, it } from "vitest";
import { renderFacts } from "../../src/cli/inspect.js";
import { clean, renderReportText } from "../../src/cli/render-text.js";
import { cleanContext, cleanFacts, cleanPolicy, reportFor, trivyVuln, withScan } from "../support/facts.js";

function report() {
  const facts = cleanFacts();
  facts.reference = { ...facts.reference, tag: "stable" };
  facts.config.user = "";
  facts.config.labels["org.opencontainers.image.title"] = "app\x1b[2J\x1b]0;pwned\x07";
  facts.history.push({
    createdBy: "RUN |1 DB_PASSWORD=hunter2hunter2 /bin/sh -c make # buildkit",
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

  describe("when the check could not finish", () => {
    function incomplete() {
      const facts = cleanFacts();
      facts.incomplete = [{ part: "signatures", code: "SERVER_ERROR", message: "503 from the registry" }];
      return reportFor(facts);
    }

    it("heads the report COULD NOT CHECK, not REVIEW", () => {
      const r = incomplete();
      expect(r.verdict).toBe("review");
      const text = renderReportText(r, { color: false });
      expect(text.split("\n")[0]).toBe("COULD NOT CHECK registry.example.com/acme/app:1.4.2");
    });

    it("keeps BLOCK when what it did find blocks", () => {
      const facts = cleanFacts();
      facts.incomplete = [{ part: "signatures", code: "SERVER_ERROR", message: "503" }];
      facts.config.env.push(`GH=ghp_${"x1Y2z3".repeat(6)}`);
      expect(renderReportText(reportFor(facts), { color: false })).toMatch(/^BLOCK {3}/);
    });

    it("keeps REVIEW for a finished check", () => {
      const facts = cleanFacts();
      facts.config.user = "";
      expect(renderReportText(reportFor(facts), { color: false })).toMatch(/^REVIEW {2}/);
    });
  });

  describe("when it names a build step", () => {
    it("counts from 1, as inspect lists the history", () => {
      const facts = cleanFacts();
      facts.history = [
        { createdBy: "COPY app /app # buildkit", emptyLayer: false },
        { createdBy: "RUN /bin/sh -c sudo true # buildkit", emptyLayer: false },
      ];
      const text = renderReportText(reportFor(facts), { color: false });
      expect(text).toContain("history step 2 (RUN) uses sudo");
      expect(text).not.toMatch(/history\[\d+\]/);
      expect(renderFacts(facts)).toMatch(/^ +2 +RUN .*sudo true/m);
    });
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
