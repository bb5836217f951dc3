import { describe, expect, it } from "vitest";
import { finding } from "../../src/checks/finding.js";
import type { CheckId, Finding } from "../../src/checks/types.js";
import { evaluate, policyVersion } from "../../src/policy/evaluate.js";
import { defaultPolicy } from "../../src/policy/schema.js";
import { parsePolicy } from "../../src/policy/yaml.js";

const NGINX = { registry: "docker.io", repository: "library/nginx", tag: "1.27.3" };
const f = (id: CheckId): Finding => finding(id, id, "detail");

function policy(yaml: string) {
  return parsePolicy(yaml, "policy.yaml");
}

describe("evaluate", () => {
  describe("the verdict", () => {
    it.each([
      [["provenance.publisher", "tag.not-pinned"], "pass", []],
      [["tag.not-descriptive"], "pass", []],
      [["tag.latest", "tag.not-descriptive"], "review", ["tag.latest"]],
      [["history.secret", "tag.latest", "tag.not-pinned"], "review", ["history.secret", "tag.latest"]],
      [["trust.signature-invalid", "history.secret"], "block", ["trust.signature-invalid"]],
    ] as [CheckId[], string, string[]][])("%j gives %s decided by %j", (ids, verdict, decidedBy) => {
      const e = evaluate(ids.map(f), defaultPolicy(), NGINX, new Date("2026-11-30T00:00:00Z"));
      expect(e.verdict).toBe(verdict);
      expect(e.decidedBy).toEqual(decidedBy);
    });

    it("lists findings most severe first", () => {
      const e = evaluate(
        ["tag.not-pinned", "trust.no-sbom", "history.secret"].map((id) => f(id as CheckId)),
        defaultPolicy(),
        NGINX,
        new Date(),
      );
      expect(e.findings.map((x) => x.severity)).toEqual(["high", "low", "info"]);
    });

    it("follows the policy's thresholds", () => {
      const p = policy("verdict: { reviewAt: high, blockAt: high }");
      expect(evaluate([f("tag.latest")], p, NGINX, new Date()).verdict).toBe("pass");
      expect(evaluate([f("history.secret")], p, NGINX, new Date()).verdict).toBe("block");
    });
  });

  describe("severity overrides and disabled checks", () => {
    it("applies an override by id", () => {
      const e = evaluate(
        [f("tag.latest")],
        policy("checks: { severity: { tag.latest: critical } }"),
        NGINX,
        new Date(),
      );
      expect(e.findings[0]!.severity).toBe("critical");
      expect(e.verdict).toBe("block");
    });

    it("removes a disabled check", () => {
      const e = evaluate(
        [f("tag.latest"), f("tag.not-pinned")],
        policy("checks: { disabled: [tag.latest] }"),
        NGINX,
        new Date(),
      );
      expect(e.findings.map((x) => x.id)).toEqual(["tag.not-pinned"]);
      expect(e.verdict).toBe("pass");
    });
  });

  describe("exceptions", () => {
    const p = policy(
      [
        "exceptions:",
        "  - check: config.root-user",
        "    image: docker.io/library/nginx:*",
        "    reason: nginx drops privileges after binding its port",
        "    expires: 2027-03-31",
      ].join("\n"),
    );

    it("waive a matching finding until the expiry date, inclusive (UTC)", () => {
      for (const now of ["2026-11-30T00:00:00Z", "2027-03-31T23:59:59Z"]) {
        const e = evaluate([f("config.root-user")], p, NGINX, new Date(now));
        expect(e.findings[0]!.waived).toEqual({
          reason: "nginx drops privileges after binding its port",
          expires: "2027-03-31",
        });
        expect(e.verdict).toBe("pass");
      }
    });

    it("stop the day after", () => {
      const e = evaluate([f("config.root-user")], p, NGINX, new Date("2027-04-01T00:00:00Z"));
      expect(e.findings[0]!.waived).toBeUndefined();
      expect(e.verdict).toBe("review");
      expect(e.decidedBy).toEqual(["config.root-user"]);
    });

    it("apply only to the check and images named", () => {
      const other = { registry: "docker.io", repository: "library/httpd", tag: "2.4" };
      expect(evaluate([f("config.root-user")], p, other, new Date("2026-11-30T00:00:00Z")).verdict).toBe(
        "review",
      );
      expect(evaluate([f("config.ssh-port")], p, NGINX, new Date("2026-11-30T00:00:00Z")).verdict).toBe(
        "review",
      );
    });
  });

  describe("check.incomplete", () => {
    const incomplete = () => finding("check.incomplete", "incomplete", "TIMEOUT", { code: "TIMEOUT" });

    it("gives review by default", () => {
      expect(evaluate([incomplete()], defaultPolicy(), NGINX, new Date()).verdict).toBe("review");
    });

    it("never passes, even lowered to info", () => {
      const e = evaluate(
        [incomplete()],
        policy("checks: { severity: { check.incomplete: info } }"),
        NGINX,
        new Date(),
      );
      expect(e.verdict).toBe("review");
      expect(e.decidedBy).toEqual(["check.incomplete"]);
    });

    it("never passes, even disabled or waived", () => {
      const p = policy(
        "checks: { disabled: [check.incomplete] }\nexceptions:\n  - { check: check.incomplete, image: '**', reason: flaky, expires: 2099-01-01 }",
      );
      const e = evaluate([incomplete()], p, NGINX, new Date());
      expect(e.verdict).toBe("review");
      expect(e.findings[0]!.waived).toBeUndefined();
    });

    it("still lets a critical finding block", () => {
      const e = evaluate([incomplete(), f("trust.digest-mismatch")], defaultPolicy(), NGINX, new Date());
      expect(e.verdict).toBe("block");
      expect(e.decidedBy).toEqual(["trust.digest-mismatch", "check.incomplete"]);
    });
  });
});

describe("policyVersion", () => {
  it("is 12 hex characters, stable, and the same however the file was written", () => {
    const a = policy("maxAgeDays: 30\nverdict: { blockAt: high }");
    const b = policy('{"verdict": {"blockAt": "high"}, "maxAgeDays": 30}');
    expect(policyVersion(a)).toMatch(/^[0-9a-f]{12}$/);
    expect(policyVersion(a)).toBe(policyVersion(b));
    expect(policyVersion(a)).not.toBe(policyVersion(defaultPolicy()));
  });
});
