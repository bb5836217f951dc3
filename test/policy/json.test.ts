import { describe, expect, it } from "vitest";
import { PolicyError, parsePolicyJson } from "../../src/policy/parse.js";
import { parsePolicy } from "../../src/policy/yaml.js";

describe("parsePolicyJson", () => {
  describe("when the policy is JSON", () => {
    it.each([
      '{"registries": {"allowPrivate": ["127.0.0.1:5000"], "allowInsecure": ["127.0.0.1:5000"]}}',
      '  {"maxAgeDays": 30, "checks": {"disabled": ["tag.latest"]}, "exceptions": []}\n',
      '{"trust": {"keyless": [{"issuer": "https://x.example", "subject": "^a\\\\\\"{}[]b$"}]}}',
    ])("reads %s as the YAML reading does", (text) => {
      expect(parsePolicyJson(text, "p.json")).toEqual(parsePolicy(text, "p.json"));
    });

    it.each([
      ['{"maxAgeDays": 30, "maxAgeDays": 40}', "maxAgeDays"],
      ['{"registries": {"trusted": [], "trusted": ["x/*"]}}', "trusted"],
      [
        '{"exceptions": [{"check": "tag.latest", "image": "a", "reason": "r", "expires": "2099-01-01", "reason": "s"}]}',
        "reason",
      ],
    ])("refuses %s, whose key %s appears twice, as the YAML reading does", (text, key) => {
      expect(() => parsePolicyJson(text, "p.json")).toThrow(PolicyError);
      expect(() => parsePolicyJson(text, "p.json")).toThrow(`"${key}" appears twice`);
      expect(() => parsePolicy(text, "p.json")).toThrow(PolicyError);
    });

    it("accepts the same key in two different objects", () => {
      expect(() =>
        parsePolicyJson('{"registries": {"trusted": []}, "trust": {"keys": []}}', "p.json"),
      ).not.toThrow();
    });
  });

  describe("when the text is YAML, or JSON with a mistake", () => {
    it.each(["registries:\n  trusted: []\n", '{"maxAgeDays": 30,}', "[1, 2]"])(
      "leaves %j to the YAML reading",
      (text) => {
        expect(parsePolicyJson(text, "p.json")).toBeUndefined();
      },
    );
  });
});
