// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile and compose variables are the input under test.
import { describe, expect, it } from "vitest";
import { referencesIn } from "../../src/files/index.js";
import { applyEdits, EditMismatch, planPin, unifiedDiff } from "../../src/files/pin.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

/** Pin every reference of `text` as `file` to `digest`, as the pin command plans it. */
function pinAll(file: string, text: string, digest: string): string {
  const plans = referencesIn(file, text).references.map((r) => planPin(r, digest));
  return applyEdits(
    text,
    plans.flatMap((p) => (p.kind === "pin" ? [p.edit] : [])),
  );
}

describe("pinning", () => {
  describe("when a Dockerfile names its base through an ARG used twice", () => {
    const text =
      "# syntax=docker/dockerfile:1\nARG BASE=redis:7 # keep in step with prod\nFROM $BASE AS a\nFROM ${BASE} AS b\nRUN echo redis:7\n";

    it("appends the digest on the ARG line only, once, and changes nothing else", () => {
      expect(pinAll("Dockerfile", text, D1)).toBe(
        `# syntax=docker/dockerfile:1\nARG BASE=redis:7@${D1} # keep in step with prod\nFROM $BASE AS a\nFROM \${BASE} AS b\nRUN echo redis:7\n`,
      );
    });

    it("changes nothing on a second run", () => {
      const once = pinAll("Dockerfile", text, D1);
      expect(pinAll("Dockerfile", once, D1)).toBe(once);
    });
  });

  describe("when a compose file quotes an image and comments its line", () => {
    it("rewrites inside the quotes and keeps the comment", () => {
      const text = 'services:\n  web:\n    image: "nginx:1.27"   # front\n';
      expect(pinAll("compose.yaml", text, D1)).toBe(
        `services:\n  web:\n    image: "nginx:1.27@${D1}"   # front\n`,
      );
    });
  });

  describe("when a reference is pinned to another digest than its tag resolves to", () => {
    it("plans a conflict for a reviewer, never an edit", () => {
      const [r] = referencesIn("Dockerfile", `FROM redis:7@${D1}\n`).references;
      expect(planPin(r!, D2)).toMatchObject({ kind: "conflict", pinned: D1, tagDigest: D2 });
      expect(planPin(r!, D1)).toMatchObject({ kind: "pinned" });
    });
  });

  describe("when a reference is put together from variables", () => {
    it("plans no edit", () => {
      const [r] = referencesIn("Dockerfile", "ARG V=7\nFROM redis:${V}\n").references;
      expect(planPin(r!, D1).kind).toBe("not-literal");
    });
  });

  describe("applyEdits", () => {
    it("refuses an edit whose text is not where it was found", () => {
      expect(() => applyEdits("FROM a:1\n", [{ offset: 0, before: "a:1", after: "x" }])).toThrow(
        EditMismatch,
      );
    });
  });

  describe("unifiedDiff", () => {
    it("shows each changed line with three lines of context, as diff -u does", () => {
      const before = "1\n2\n3\n4\nFROM a:1\n6\n7\n8\n9\n";
      const after = before.replace("a:1", "a:1@x");
      expect(unifiedDiff("Dockerfile", before, after)).toBe(
        "--- a/Dockerfile\n+++ b/Dockerfile\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-FROM a:1\n+FROM a:1@x\n 6\n 7\n 8\n",
      );
    });

    it("is empty when nothing changed", () => {
      expect(unifiedDiff("Dockerfile", "FROM a:1\n", "FROM a:1\n")).toBe("");
    });
  });
});
