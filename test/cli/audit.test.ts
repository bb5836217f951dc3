// The audit command's module graph and usage errors (no engine needed).
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../store/support.js";
import { runCli } from "../support/cli.js";
import { moduleGraph } from "../support/module-graph.js";

describe("the audit module graph", () => {
  it("never loads Slack or Bolt", () => {
    const { files, packages } = moduleGraph(resolve("src/cli/audit.ts"));
    expect([...packages].filter((p) => p.startsWith("@slack/"))).toEqual([]);
    expect([...files].filter((f) => /src\/slack\//.test(f))).toEqual([]);
    expect([...files].some((f) => f.endsWith("src/engine/source.ts"))).toBe(true);
  });
});

describe("image-check audit", () => {
  describe("when given an argument it does not take", () => {
    it("exits 64 naming it", async () => {
      const { code, stderr } = await runCli(["audit", "nginx"], { cwd: tempDir() });
      expect(code).toBe(64);
      expect(stderr).toContain('unexpected argument "nginx"');
    });
  });

  describe("when asked for help", () => {
    it("explains the exit status", async () => {
      const { code, stdout } = await runCli(["audit", "--help"], { cwd: tempDir() });
      expect(code).toBe(0);
      expect(stdout).toContain("Exit status: 0 every running container");
    });
  });
});
