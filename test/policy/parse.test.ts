import { describe, expect, it } from "vitest";
import { defaultPolicyText, PolicyError } from "../../src/policy/parse.js";
import { defaultPolicy } from "../../src/policy/schema.js";
import { parsePolicy } from "../../src/policy/yaml.js";

function errorOf(text: string, file = "policy.yaml"): PolicyError {
  try {
    parsePolicy(text, file);
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error("expected parsePolicy to throw");
}

describe("parsePolicy", () => {
  it("gives the default policy for an empty file", () => {
    expect(parsePolicy("", "policy.yaml")).toEqual(defaultPolicy());
  });

  it("reads JSON as well as YAML", () => {
    const yaml = parsePolicy("maxAgeDays: 30\nverdict:\n  blockAt: high\n", "p.yaml");
    const json = parsePolicy('{"maxAgeDays": 30, "verdict": {"blockAt": "high"}}', "p.json");
    expect(json).toEqual(yaml);
    expect(yaml.maxAgeDays).toBe(30);
    expect(yaml.verdict).toEqual({ reviewAt: "medium", blockAt: "high" });
  });

  it("reads the contract's example, unquoted dates included", () => {
    const p = parsePolicy(
      [
        "exceptions:",
        "  - check: config.root-user",
        "    image: docker.io/library/nginx:*",
        "    reason: nginx drops privileges after binding its port",
        "    expires: 2027-03-31",
        "checks:",
        "  severity: { tag.latest: high }",
        "  disabled: [config.no-healthcheck]",
      ].join("\n"),
      "policy.yaml",
    );
    expect(p.exceptions[0]!.expires).toBe("2027-03-31");
    expect(p.checks.severity).toEqual({ "tag.latest": "high" });
  });

  describe("when a field is wrong", () => {
    it.each([
      [
        "registries:\n  allowPrivate: ['bad host!']\n",
        'policy.yaml: registries.allowPrivate[0]: expected a registry host such as ghcr.io or 127.0.0.1:5000, got "bad host!"',
      ],
      [
        "registries:\n  allowPrivat: []\n",
        "policy.yaml: registries.allowPrivat: unknown field; expected one of trusted, allowPrivate, allowInsecure",
      ],
      [
        "verdict:\n  blockAt: severe\n",
        'policy.yaml: verdict.blockAt: expected one of info, low, medium, high, critical, got "severe"',
      ],
      ["maxAgeDays: soon\n", 'policy.yaml: maxAgeDays: expected a number, got "soon"'],
      ["maxAgeDays: 0\n", "policy.yaml: maxAgeDays: expected a number greater than 0, got 0"],
      ["trust:\n  keys:\n    - name: a\n", "policy.yaml: trust.keys[0]: expected exactly one of pem or path"],
      [
        "exceptions:\n  - { check: tag.latest, image: x, reason: y, expires: 2027-02-31 }\n",
        'policy.yaml: exceptions[0].expires: expected a real calendar date YYYY-MM-DD, got "2027-02-31"',
      ],
      [
        "exceptions:\n  - { check: tag.latest, image: x, reason: y, expires: 2099-13-01 }\n",
        'policy.yaml: exceptions[0].expires: expected a real calendar date YYYY-MM-DD, got "2099-13-01"',
      ],
      [
        'exceptions:\n  - { check: tag.latest, image: x, reason: y, expires: "2099-00-10" }\n',
        'policy.yaml: exceptions[0].expires: expected a real calendar date YYYY-MM-DD, got "2099-00-10"',
      ],
      [
        "checks:\n  disabled: [config.rootuser]\n",
        'policy.yaml: checks.disabled[0]: expected a check id such as config.root-user (see image-check policy --print-default), got "config.rootuser"',
      ],
      [
        "checks:\n  severity:\n    tag.latst: low\n",
        'policy.yaml: checks.severity["tag.latst"]: expected a check id such as config.root-user (see image-check policy --print-default), got "tag.latst"',
      ],
      [
        "exceptions:\n  - { check: no.such-check, image: x, reason: y, expires: 2027-01-01 }\n",
        'policy.yaml: exceptions[0].check: expected a check id such as config.root-user (see image-check policy --print-default), got "no.such-check"',
      ],
      ["- a\n- b\n", "policy.yaml: expected a mapping of policy fields at the top level, got a list"],
      ["version: 2\n", "policy.yaml: version: expected 1, got 2"],
    ])("%j gives one line naming the file, the path and what was expected", (text, line) => {
      const err = errorOf(text);
      expect(err.code).toBe("INVALID_POLICY");
      expect(err.message).toBe(line);
      expect(err.message).not.toContain("\n");
    });

    it("names the line of a YAML syntax error", () => {
      const err = errorOf("verdict:\n  blockAt: [high\n", "p.yaml");
      expect(err.code).toBe("INVALID_POLICY");
      expect(err.message).toMatch(/^p\.yaml: line \d+, column \d+: /);
      expect(err.message).not.toContain("\n");
    });

    it("counts the other problems", () => {
      expect(errorOf("maxAgeDays: x\nmaxSizeMB: y\n").message).toMatch(/\(and 1 more problem\)$/);
    });
  });
});

describe("defaultPolicyText", () => {
  it("parses to exactly the default policy", () => {
    expect(parsePolicy(defaultPolicyText(), "default.yaml")).toEqual(defaultPolicy());
  });

  it("lists every check id with its default severity", () => {
    const text = defaultPolicyText();
    expect(text).toMatch(/#\s+check\.incomplete\s+high/);
    expect(text).toMatch(/#\s+trust\.signature-invalid\s+critical/);
  });
});

describe("parsePolicy with hostile YAML", () => {
  it("refuses an unresolved alias with one line", () => {
    expect(errorOf("x: *nothing\n").code).toBe("INVALID_POLICY");
  });

  it("refuses an alias bomb", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++)
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(", ")}]`,
      );
    expect(errorOf(lines.join("\n")).code).toBe("INVALID_POLICY");
  });
});
