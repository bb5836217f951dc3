import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

const runProcess = promisify(execFile);

/** The real entry as a process: catches what in-process tests cannot, such as an import cycle with main's top-level await. */
async function entry(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await runProcess(
      process.execPath,
      ["--import", "tsx", resolve("src/cli/main.ts"), ...args],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        timeout: 30_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; killed?: boolean };
    if (e.killed) throw new Error(`image-check ${args.join(" ")} did not exit within 30 s`);
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("the image-check entry point", () => {
  describe("when asked for a command's help", () => {
    it.each(["check", "inspect", "decisions", "serve", "migrate", "backup", "policy", "pin"])(
      "%s --help prints its usage and exits 0",
      async (command) => {
        const r = await entry([command, "--help"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: image-check ${command}\\b`));
      },
    );
  });

  describe("when asked for watch's or audit's help", () => {
    it.each(["watch", "audit"])(
      "%s --help lists -h, --help and --debug as every command does",
      async (command) => {
        const r = await runCli([command, "--help"], { cwd: "/nonexistent" });
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^ {2}-h, --help {2,}show this help$/m);
        expect(r.stdout).toMatch(/^ {2}--debug {2,}print stack traces on errors$/m);
      },
    );

    it("watch --help says the policy comes from IMAGE_CHECK_POLICY, as serve's does", async () => {
      const r = await runCli(["watch", "--help"], { cwd: "/nonexistent" });
      expect(r.stdout).toContain("IMAGE_CHECK_POLICY");
    });
  });

  describe("when -h stands among other arguments", () => {
    it("prints the command's help and runs nothing", async () => {
      const r = await entry(["check", "UPPER/case", "--frobnicate", "-h"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: image-check check\b/);
      expect(r.stderr).toBe("");
    });
  });

  describe("with --version", () => {
    it("prints the package version", async () => {
      const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
      const r = await entry(["--version"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    });
  });

  describe("when the command is unknown", () => {
    it("prints one line and exits 64", async () => {
      const r = await entry(["frobnicate"]);
      expect(r.code).toBe(64);
      expect(r.stderr.trim().split("\n")).toEqual([
        'image-check: unknown command "frobnicate" (see image-check --help)',
      ]);
    });
  });

  describe("when a command fails with one line", () => {
    // Usage errors, a bad policy and a failure at run time: one prefix format for all.
    it.each([
      ["check", ["check"], 64, "missing image reference"],
      ["check", ["check", "--frobnicate"], 64, "unknown flag --frobnicate"],
      ["inspect", ["inspect", "--platform", "x"], 64, "missing the image reference"],
      ["policy", ["policy", "--check", "/nonexistent/policy.yaml"], 64, "/nonexistent/policy.yaml"],
      ["decisions", ["decisions", "--limit", "0"], 64, "--limit must be a positive whole number"],
      ["backup", ["backup"], 64, "expected one FILE"],
    ])("%s (%j) prints `image-check COMMAND: message` once", async (command, args, code, text) => {
      const r = await runCli(args, { cwd: "/nonexistent", env: { IMAGE_CHECK_DB: "/nonexistent/x.db" } });
      expect(r.code).toBe(code);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^image-check ${command}: (?!${command}: )`));
      expect(lines[0]).toContain(text);
    });
  });

  describe("with --help", () => {
    it("lists every command of the contract", async () => {
      const r = await entry(["--help"]);
      expect(r.code).toBe(0);
      for (const c of ["check", "inspect", "decisions", "serve", "migrate", "backup", "policy"]) {
        expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, "m"));
      }
    });
  });
});
