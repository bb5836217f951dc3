import { describe, expect, it } from "vitest";
import { clean, renderReportText } from "../../src/cli/render-text.js";
import { cleanContext, cleanFacts, cleanPolicy, reportFor } from "../support/facts.js";

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
});
