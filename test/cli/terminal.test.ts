import { describe, expect, it } from "vitest";
import type { CliIO } from "../../src/cli/args.js";
import { main } from "../../src/cli/main.js";
import { clean } from "../../src/cli/render-text.js";
import { printable, printableLines } from "../../src/cli/terminal.js";

/** Every bidirectional control (CVE-2021-42574): embeddings, overrides, isolates and the three marks. */
const BIDI = [
  "\u202a",
  "\u202b",
  "\u202c",
  "\u202d",
  "\u202e",
  "\u2066",
  "\u2067",
  "\u2068",
  "\u2069",
  "\u200e",
  "\u200f",
  "\u061c",
];
const ANY_BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe("the terminal helpers", () => {
  it.each(BIDI.map((c) => [c.charCodeAt(0).toString(16).padStart(4, "0"), c]))(
    "printable shows U+%s as its escape",
    (hex, c) => {
      expect(printable(`a${c}b`)).toBe(`a\\u${hex}b`);
    },
  );

  it("printableLines keeps the line breaks of log text and escapes the rest", () => {
    let out = "";
    printableLines((t) => (out += t))("a\u202eb \u001b[2J\nnext\n");
    expect(out).toBe("a\\u202eb \\x1b[2J\nnext\n");
  });

  it.each(BIDI)("the report's clean() replaces %j", (c) => {
    expect(clean(`a${c}b`)).toBe("a?b");
  });
});

describe("image-check's error line", () => {
  describe("when the error quotes text with bidi controls and ESC", () => {
    it("prints their escapes on stderr, never the characters", async () => {
      let err = "";
      const io: CliIO = { stdout: () => {}, stderr: (t) => (err += t), env: {}, isTTY: false, cwd: "/" };
      const name = `/nonexistent/${BIDI.join("")}\u001b[2J.yaml`;
      const code = await main(["inspect", "--policy", name, "nginx:1"], io);
      expect(code).toBe(64);
      expect(err).not.toMatch(ANY_BIDI);
      expect(err).not.toContain("\u001b");
      expect(err).toContain("\\u202e");
      expect(err).toContain("\\u061c");
      expect(err).toContain("\\x1b[2J");
    });
  });
});
