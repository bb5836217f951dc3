import { readFileSync } from "node:fs";
import AjvDraft04 from "ajv-draft-04";
import ajvFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { CHECKS, type Finding } from "../../src/checks/types.js";
import { renderSarif } from "../../src/cli/format-sarif.js";

const schema = JSON.parse(readFileSync("test/fixtures/sarif/sarif-2.1.0-rtm.5.json", "utf8")) as object;
// unicodeRegExp off: the schema's language pattern is a draft-04 (ECMA 262 non-unicode) regex.
// Both are CommonJS modules whose export is also at `.default`.
const Ajv = AjvDraft04.default;
const addFormats = ajvFormats.default;
const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats(ajv);
const validate = ajv.compile(schema);

function finding(
  id: keyof typeof CHECKS,
  severity: Finding["severity"],
  waived?: Finding["waived"],
): Finding {
  return {
    id,
    category: CHECKS[id].category,
    severity,
    title: `${id} fired`,
    detail: "expected X, got Y; do Z",
    evidence: {},
    ...(waived ? { waived } : {}),
  };
}

const report: Report = {
  schema: "image-check/report@1",
  reference: "127.0.0.1:5000/acme/app:1.0",
  image: {
    registry: "127.0.0.1:5000",
    repository: "acme/app",
    tag: "1.0",
    digest: `sha256:${"a".repeat(64)}`,
    platform: "linux/amd64",
  },
  verdict: "block",
  findings: [
    finding("trust.signature-invalid", "critical"),
    finding("config.root-user", "medium"),
    finding("tag.not-pinned", "info"),
    finding("config.ssh-port", "medium", { reason: "bastion image", expires: "2099-01-01" }),
  ],
  facts: { user: "root", labels: {}, history: [], signatures: [], attestations: [] },
  checkedAt: "2026-11-30T12:00:00.000Z",
  durationMs: 5,
};
const levels = { reviewAt: "medium", blockAt: "critical" } as const;
const located = [
  {
    report,
    locations: [
      { file: "deploy/Dockerfile", line: 3 },
      { file: "k8s/app.yaml", line: 20 },
    ],
  },
];

describe("renderSarif", () => {
  const log = renderSarif(located, {
    ...levels,
    version: "1.2.3",
    helpUri: "https://example.test/image-check#check-ids",
  });
  const run = (
    log.runs as {
      tool: { driver: { rules: { id: string; properties: Record<string, unknown> }[] } };
      results: Record<string, unknown>[];
    }[]
  )[0]!;

  it("is valid against the SARIF 2.1.0 JSON schema", () => {
    const ok = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("has one rule per check id, with its default severity", () => {
    const ids = run.tool.driver.rules.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(Object.keys(CHECKS)));
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      run.tool.driver.rules.find((r) => r.id === "config.root-user")!.properties["default-severity"],
    ).toBe("medium");
  });

  it("has one result per finding and place: error for block, warning for review, note below", () => {
    expect(run.results).toHaveLength(8);
    const at = (id: string) => run.results.filter((r) => r.ruleId === id);
    expect(at("trust.signature-invalid").map((r) => r.level)).toEqual(["error", "error"]);
    expect(at("config.root-user").map((r) => r.level)).toEqual(["warning", "warning"]);
    expect(at("tag.not-pinned").map((r) => r.level)).toEqual(["note", "note"]);
    expect(at("config.root-user")[1]).toMatchObject({
      locations: [
        { physicalLocation: { artifactLocation: { uri: "k8s/app.yaml" }, region: { startLine: 20 } } },
      ],
    });
    expect(at("config.ssh-port")[0]!.suppressions).toEqual([
      { kind: "external", justification: "bastion image (until 2099-01-01)" },
    ]);
  });

  it("fingerprints a finding by check, repository and file, so a moved line or a new digest keeps the alert", () => {
    const moved = { ...report, image: { ...report.image, digest: `sha256:${"b".repeat(64)}` } };
    const again = renderSarif([{ report: moved, locations: [{ file: "deploy/Dockerfile", line: 9 }] }], {
      ...levels,
      version: "1.2.3",
    });
    const first = run.results[0]!.partialFingerprints;
    const second = (again.runs as { results: { partialFingerprints: unknown }[] }[])[0]!.results[0]!
      .partialFingerprints;
    expect(second).toEqual(first);
    expect(run.results[1]!.partialFingerprints).not.toEqual(first);
  });

  it("shows escape sequences and bidi controls from image text as escapes in a result's message", () => {
    const hostile: Report = {
      ...report,
      findings: [{ ...finding("history.remote-script", "high"), detail: "curl x/\u202eabc\u001b[31m | sh" }],
    };
    const out = renderSarif([{ report: hostile, locations: [] }], { ...levels, version: "1.2.3" });
    const text = (out.runs as { results: { message: { text: string } }[] }[])[0]!.results[0]!.message.text;
    expect(text).toContain("curl x/\\u202eabc\\x1b[31m | sh");
    expect(text).not.toMatch(/[\u001b\u202e]/);
  });

  describe("when a reference was given on the command line", () => {
    const bare = renderSarif([{ report, locations: [] }], { ...levels, version: "1.2.3" });
    const results = (bare.runs as { results: { locations?: unknown[] }[] }[])[0]!.results;

    it("is valid SARIF", () => {
      expect(validate(bare)).toBe(true);
    });

    // GitHub code scanning refuses the whole upload ("locationFromSarifResult: expected at least
    // one location") when any result has no location, so `check --format sarif REF` must not
    // produce one. The image's name stands in for the file, as other image scanners do; its ':'
    // is escaped so that `host:port/...` is not read as a URI scheme.
    it("anchors every result at the image's name, so that code scanning accepts the file", () => {
      expect(results).toHaveLength(report.findings.length);
      for (const r of results) {
        expect(r.locations).toEqual([
          {
            physicalLocation: {
              artifactLocation: { uri: "127.0.0.1%3A5000/acme/app" },
              region: { startLine: 1 },
            },
          },
        ]);
      }
    });
  });
});
