/**
 * The binary as a user installs it: `npm pack`, then `npm install -g` of the packed package into a
 * temporary prefix, then the `image-check` link npm makes in PREFIX/bin, run as a process. An
 * installed binary is always started through a link (npm i -g, npm link, npx, node_modules/.bin),
 * which the in-process tests and `tsx src/cli/main.ts` never are.
 *
 * Offline: the test sends nothing to a registry. npm is given the unpacked tarball (a folder, which
 * npm installs as `npm link` does) whose node_modules is a link to this checkout's, because the
 * package's dependencies are not in the npm cache here. The bin link, PREFIX/lib/node_modules and
 * what the tarball holds (package.json `files`, the executable bit) are npm's own.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { getTestbed } from "../support/testbed.js";

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(file, args, { env, cwd, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("the installed image-check binary", () => {
  const repo = resolve(".");
  const tmp = mkdtempSync(join(tmpdir(), "image-check-install-"));
  const prefix = join(tmp, "prefix");
  const bin = join(prefix, "bin", "image-check");
  // Only what npm needs: no npm_* variables of an enclosing `npm test` (its prefix, its cwd).
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    npm_config_cache: process.env.npm_config_cache,
  };
  let packed: string;

  beforeAll(async () => {
    const pack = await run("npm", ["pack", "--silent", "--pack-destination", tmp], env, repo);
    expect(pack.code, pack.stderr).toBe(0);
    packed = join(tmp, pack.stdout.trim().split("\n").at(-1)!);
    const unpacked = join(tmp, "unpacked");
    mkdirSync(unpacked);
    await exec("tar", ["xzf", packed, "-C", unpacked]);
    symlinkSync(join(repo, "node_modules"), join(unpacked, "package", "node_modules"));
    const install = await run(
      "npm",
      [
        "install",
        "-g",
        "--prefix",
        prefix,
        "--offline",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        join(unpacked, "package"),
      ],
      env,
      tmp,
    );
    expect(install.code, install.stderr).toBe(0);
  }, 180_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("is a link in PREFIX/bin, as npm makes it", () => {
    expect(readlinkSync(bin)).toMatch(/image-check/);
    expect(readdirSync(join(prefix, "lib", "node_modules"))).toEqual(["image-check"]);
  });

  describe("when given a reference that does not parse", () => {
    it("prints one line naming it and exits 64", async () => {
      const r = await run(bin, ["check", "BAD::ref", "--no-store"], { PATH: env.PATH }, tmp);
      expect(r.code).toBe(64);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("BAD::ref");
    });
  });

  describe("when asked for its version", () => {
    it("answers from the installed package", async () => {
      const r = await run(bin, ["--version"], { PATH: env.PATH }, tmp);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
    });
  });

  describe("when the image is signed", () => {
    it("verifies the signature (the bundle loads its Sigstore code when there is one)", async () => {
      const { open } = getTestbed();
      const repo = randomRepo("installed");
      const image = await pushImage(open, repo, { config: { User: "10001" } }, "1.0");
      await signCosign(
        open,
        repo,
        image.digest,
        generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
      );
      const policy = join(tmp, "policy.json");
      writeFileSync(
        policy,
        JSON.stringify({ registries: { allowPrivate: [open.host], allowInsecure: [open.host] } }),
      );
      const r = await run(
        bin,
        ["check", `${open.host}/${repo}:1.0`, "--no-store", "--json", "--policy", policy],
        { PATH: env.PATH, HOME: tmp },
        tmp,
      );
      expect(r.stderr).toBe("");
      const report = JSON.parse(r.stdout) as Report;
      // Signed by a key the policy does not trust: found and checked, not verified.
      expect(report.findings.map((f) => f.id)).toContain("trust.untrusted-signer");
      expect(report.findings.map((f) => f.id)).not.toContain("check.incomplete");
    });
  });

  describe("the packed entry file", () => {
    it("is executable in the tarball, so it runs without node in front of it", async () => {
      const { stdout } = await exec("tar", ["tvzf", packed]);
      const { bin } = JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> };
      const entry = stdout.split("\n").find((l) => l.endsWith(` package/${bin["image-check"]}`));
      expect(entry).toMatch(/^-rwxr-xr-x /);
    });
  });
});
