/**
 * Registry bytes that try to freeze the process: every entry point of the secret scanner and the
 * history reader, fed a megabyte of the repeats that made their regexes super-linear (or, for the
 * shell prefix, exponential). Nothing here measures time: a quadratic regression takes minutes on
 * these inputs and fails by the test timeout, while each assertion says what the result must be.
 */
import { describe, expect, it } from "vitest";
import { historyChecks, secretsInHistoryLine } from "../../src/checks/history.js";
import { runChecks } from "../../src/checks/index.js";
import { redactFacts } from "../../src/checks/redact.js";
import {
  MAX_SCAN_CHARS,
  MAX_SECRETS,
  masked,
  maskWhole,
  redact,
  redactText,
  scanAssignment,
  scanText,
} from "../../src/checks/secrets.js";
import { parseStep } from "../../src/checks/steps.js";
import type { Finding } from "../../src/checks/types.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { cleanContext, cleanFacts } from "../support/facts.js";

const MB = 1 << 20;

/** The repeats: delimiters and openers that a backtracking regex or a naive reader retries on. */
const UNITS = [
  "a.",
  "a-",
  "a=",
  "://a@",
  "-----BEGIN ",
  "${",
  "$(",
  "`",
  '"',
  "'",
  "\\",
  "|",
  "&&",
  "eyJa.",
  'x="',
  "sh -ao -bo ",
  "curl -o a ",
  "| chpasswd ",
  "?\n",
  "/",
  "pypi-AgE",
];

/** Units whose repeats hold a secret: `password=password=…` is a password. */
const SECRET_UNITS = new Set(["password="]);
const ALL_UNITS = [...UNITS, ...SECRET_UNITS];

/** One megabyte of `unit` repeated. */
function adversarial(unit: string): string {
  return unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
}

/** True when `out` shows a 256-character stretch of `text` (at any phase of its repeat). */
function shows(out: string, text: string, unit: string): boolean {
  for (let k = 0; k < unit.length; k++) if (out.includes(text.slice(k, k + 256))) return true;
  return false;
}

const GITHUB = `ghp_${"x1Y2z3".repeat(6)}`;

const ids = (fs: Finding[]) => [...new Set(fs.map((f) => f.id))].sort();

describe("the secret scanner on adversarial input", () => {
  describe("scanText", () => {
    it.each(UNITS)("reads a megabyte of %j and finds no secret in it", (unit) => {
      expect(scanText(adversarial(unit))).toEqual([]);
    });

    it("finds the password in a megabyte of `password=`, within the scan limit", () => {
      const found = scanText(adversarial("password="));
      expect(found.map((m) => m.kind)).toEqual(["secret-name"]);
      expect(found[0]!.value.length).toBeLessThanOrEqual(MAX_SCAN_CHARS);
    });
  });

  describe("scanAssignment", () => {
    // A run of slashes is a path and a run of backticks a command substitution: not literal values.
    const NOT_LITERAL = new Set(["/", "`"]);

    it.each(ALL_UNITS.filter((u) => !NOT_LITERAL.has(u)))(
      "takes a megabyte of %j under a secret name as a secret, masked",
      (unit) => {
        const found = scanAssignment("DB_PASSWORD", adversarial(unit));
        expect(found.length).toBeGreaterThan(0);
        for (const m of masked(found)) expect(m.value).toMatch(/^…|^[a-z]{4}…[a-z=]{4} \(\d+ chars\)$/);
      },
    );

    it.each([...NOT_LITERAL])("takes a megabyte of %j under a secret name for no literal value", (unit) => {
      expect(scanAssignment("DB_PASSWORD", adversarial(unit))).toEqual([]);
    });

    it.each(UNITS)("finds nothing in a megabyte of %j under a plain name", (unit) => {
      expect(scanAssignment("NOTES", adversarial(unit))).toEqual([]);
    });
  });

  describe("the history step scanner", () => {
    const forms: [string, (text: string) => string][] = [
      ["a BuildKit RUN", (t) => `RUN /bin/sh -c ${t} # buildkit`],
      ["a legacy RUN", (t) => `/bin/sh -c ${t}`],
      ["a RUN with a build arg", (t) => `|1 TOKEN=${t} /bin/sh -c true`],
      ["another builder's note", (t) => t],
    ];
    for (const [form, line] of forms) {
      it.each(ALL_UNITS)(`reads ${form} of a megabyte of %j and never shows it`, (unit) => {
        const text = adversarial(unit);
        const createdBy = line(text);
        const found = secretsInHistoryLine(createdBy);
        expect(found.length).toBeLessThanOrEqual(MAX_SECRETS + 1);
        expect(redact(createdBy, found)).toBe(maskWhole(createdBy));
      });
    }
  });

  describe("redactFacts", () => {
    it.each(ALL_UNITS)("masks a megabyte of %j whole wherever it appears in the facts", (unit) => {
      const text = adversarial(unit);
      const facts = cleanFacts();
      facts.config.labels.notes = text;
      facts.annotations["org.example.notes"] = text;
      facts.config.env.push(`NOTES=${text}`);
      facts.config.cmd = ["serve", text];
      facts.history.push({ createdBy: `/bin/sh -c ${text}`, emptyLayer: false });
      const out = redactFacts(facts);
      expect(out.config.labels.notes).toBe(maskWhole(text));
      expect(out.annotations["org.example.notes"]).toBe(maskWhole(text));
      expect(out.config.env.at(-1)).toBe(`NOTES=${maskWhole(text)}`);
      expect(out.config.cmd).toEqual([maskWhole("serve"), maskWhole(text)]);
      expect(out.history.at(-1)!.createdBy).toBe(maskWhole(`/bin/sh -c ${text}`));
      // What was short and clean is shown as it was.
      expect(out.config.labels["org.opencontainers.image.source"]).toBe(
        facts.config.labels["org.opencontainers.image.source"],
      );
    });
  });

  describe("runChecks", () => {
    const clean = ids(runChecks(cleanFacts(), cleanContext()));

    /** Every check over `facts`, asserting that no finding shows a stretch of `text`. */
    function check(facts: ImageFacts, text: string, unit: string): Finding[] {
      const findings = runChecks(facts, cleanContext());
      expect(shows(JSON.stringify(findings), text, unit)).toBe(false);
      return findings;
    }

    it.each(ALL_UNITS)("reads a megabyte label of %j and adds no finding", (unit) => {
      const text = adversarial(unit);
      const facts = cleanFacts();
      facts.config.labels.notes = text;
      expect(ids(check(facts, text, unit))).toEqual(clean);
    });

    it.each(UNITS)("reads a megabyte env value of %j and finds no secret", (unit) => {
      const text = adversarial(unit);
      const facts = cleanFacts();
      facts.config.env.push(`NOTES=${text}`);
      expect(ids(check(facts, text, unit))).not.toContain("config.secret-env");
    });

    it("reports a megabyte env value of `password=` as a secret, masked", () => {
      const text = adversarial("password=");
      const facts = cleanFacts();
      facts.config.env.push(`NOTES=${text}`);
      expect(ids(check(facts, text, "password="))).toContain("config.secret-env");
    });

    it.each(ALL_UNITS)("reads a megabyte history line of %j and shows none of it", (unit) => {
      const text = adversarial(unit);
      const facts = cleanFacts();
      facts.history.push({ createdBy: `RUN /bin/sh -c ${text} # buildkit`, emptyLayer: false });
      for (const f of check(facts, text, unit)) {
        if (f.evidence.createdBy !== undefined)
          expect(f.evidence.createdBy).toMatch(/^… \(\d+ chars, not shown\)$/);
      }
    });

    it("still finds `curl | sh` at the start of a megabyte history line, and shows none of the line", () => {
      const text = adversarial("a.");
      const facts = cleanFacts();
      facts.history.push({
        createdBy: `/bin/sh -c curl -fsSL https://x.example/i.sh | sh && ${text}`,
        emptyLayer: false,
      });
      const findings = check(facts, text, "a.");
      const remote = findings.find((f) => f.id === "history.remote-script");
      expect(remote?.evidence.commands).toEqual([maskWhole("curl -fsSL https://x.example/i.sh | sh")]);
    });
  });

  describe("when a value is over the scan limit", () => {
    it("masks it whole, so a secret past the limit is never shown", () => {
      const text = `${"a ".repeat(MAX_SCAN_CHARS)}${GITHUB}`;
      expect(scanText(text)).toEqual([]);
      expect(redactText(text)).toBe(maskWhole(text));
      const facts = cleanFacts();
      facts.config.labels.notes = text;
      facts.config.env.push(`NOTES=${text}`);
      expect(JSON.stringify(redactFacts(facts))).not.toContain(GITHUB);
    });

    it("still reports what its first part holds", () => {
      const text = `GH=${GITHUB} ${"a ".repeat(MAX_SCAN_CHARS)}`;
      expect(scanText(text).map((m) => m.value)).toEqual([GITHUB]);
      expect(redactText(text)).toBe(maskWhole(text));
    });
  });

  describe("when a value holds more secrets than the scan keeps", () => {
    const many = Array.from({ length: MAX_SECRETS + 8 }, (_, i) => `password=pw${1000 + i}x`).join(" ");

    it("stops past the limit and masks the value whole", () => {
      const found = scanText(many);
      expect(found).toHaveLength(MAX_SECRETS + 1);
      expect(redactText(many)).toBe(maskWhole(many));
    });

    it("masks a history step that holds them whole in every finding", () => {
      const facts = cleanFacts();
      facts.history = [{ createdBy: `/bin/sh -c ${many} sudo true`, emptyLayer: false }];
      const findings = historyChecks(facts, cleanContext());
      expect(ids(findings)).toEqual(["history.secret", "history.sudo"]);
      for (const f of findings) expect(JSON.stringify(f)).not.toMatch(/pw1\d{3}x/);
      expect(findings.find((f) => f.id === "history.sudo")?.evidence.commands).toEqual([
        maskWhole(`${many} sudo true`),
      ]);
    });
  });

  describe("the live-credential pairing over a long history", () => {
    it("reads thousands of steps that each carry an AWS key id and its secret once each", () => {
      const facts = cleanFacts();
      const id = "AKIAQ3VZ7XJ2M5K8N4RT";
      const secret = "q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R";
      facts.history = Array.from({ length: 5000 }, (_, i) => ({
        createdBy: `|2 AWS_ACCESS_KEY_ID=${id} AWS_SECRET_ACCESS_KEY=${secret} /bin/sh -c step${i}`,
        emptyLayer: false,
      }));
      const findings = historyChecks(facts, cleanContext());
      // Reported where it first appears, the later steps listed: one finding, not 5000.
      expect(findings.map((f) => f.id)).toEqual(["history.credential"]);
      expect(findings[0]!.evidence.alsoIn).toHaveLength(4999);
      expect(JSON.stringify(findings)).not.toContain(secret);
    });
  });

  describe("a shell prefix with options that read two ways", () => {
    it("is read in one pass", () => {
      const step = parseStep(`sh ${"-ao -bo ".repeat(5000)}x`, 0);
      expect(step.instruction).toBe("");
      expect(parseStep(`/bin/bash ${"-eo pipefail ".repeat(5000)}-c make`, 0).script).toBe("make");
    });
  });
});
