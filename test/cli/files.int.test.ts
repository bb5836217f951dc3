/**
 * `check --file` and `pin` end to end: the CLI reads real files and asks the testbed registry.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { runCli } from "../support/cli.js";
import { pushImage, pushIndex, randomRepo } from "../support/image-builder.js";
import { getTestbed } from "../support/testbed.js";

const exec = promisify(execFile);

let dir: string;
let host: string;
let policy: string;

function run(args: string[]) {
  return runCli(args, { env: { HOME: dir }, cwd: dir });
}

const clean = {
  config: {
    User: "10001:10001",
    Labels: { "org.opencontainers.image.source": "https://github.com/acme/app" },
    Healthcheck: { Test: ["CMD", "/app", "health"] },
  },
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ic-files-"));
  host = getTestbed().open.host;
  policy = join(dir, "policy.yaml");
  writeFileSync(policy, `registries:\n  allowPrivate: ["${host}"]\n  allowInsecure: ["${host}"]\n`);
});

describe("image-check check --file", () => {
  describe("when a Dockerfile and a manifest name the same image", () => {
    it("checks it once and reports it at each place", async () => {
      const repo = randomRepo("files");
      await pushImage(getTestbed().open, repo, { config: { User: "root" } }, "1.0.0");
      writeFileSync(
        join(dir, "Dockerfile"),
        `ARG BASE=${host}/${repo}:1.0.0\nFROM \${BASE} AS app\nFROM app\n`,
      );
      writeFileSync(
        join(dir, "pod.yaml"),
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: app\n      image: ${host}/${repo}:1.0.0\n`,
      );
      const r = await run([
        "check",
        "--file",
        "Dockerfile",
        "--file",
        "pod.yaml",
        "--policy",
        policy,
        "--no-store",
        "--json",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as Report & { locations: unknown };
      expect(report.reference).toBe(`${host}/${repo}:1.0.0`);
      expect(report.locations).toEqual([
        { file: "Dockerfile", line: 2 },
        { file: "pod.yaml", line: 8 },
      ]);
    });
  });

  describe("with --format github", () => {
    it("annotates the file and line of each finding at review level", async () => {
      const repo = randomRepo("files");
      await pushImage(getTestbed().open, repo, { config: { User: "root" } }, "2.0.0");
      writeFileSync(
        join(dir, "compose.yaml"),
        `services:\n  web:\n    image: \${WEB:-${host}/${repo}:2.0.0}\n`,
      );
      const r = await run([
        "check",
        "--file",
        "compose.yaml",
        "--policy",
        policy,
        "--no-store",
        "--format",
        "github",
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("::warning file=compose.yaml,line=3,title=config.root-user [medium]::");
      expect(r.stdout).toMatch(/^image-check: .* at compose\.yaml:3: REVIEW/m);
    });
  });

  describe("with --format sarif", () => {
    it("locates results at the file and line", async () => {
      const repo = randomRepo("files");
      await pushImage(getTestbed().open, repo, { config: { User: "root" } }, "3.0.0");
      writeFileSync(join(dir, "Containerfile"), `FROM ${host}/${repo}:3.0.0\n`);
      const r = await run([
        "check",
        "--file",
        "Containerfile",
        "--policy",
        policy,
        "--no-store",
        "--format",
        "sarif",
      ]);
      expect(r.code).toBe(1);
      const log = JSON.parse(r.stdout) as {
        version: string;
        runs: { results: { ruleId: string; locations: unknown }[] }[];
      };
      expect(log.version).toBe("2.1.0");
      expect(log.runs[0]!.results.find((x) => x.ruleId === "config.root-user")!.locations).toEqual([
        { physicalLocation: { artifactLocation: { uri: "Containerfile" }, region: { startLine: 1 } } },
      ]);
    });
  });

  describe("when a file names no image", () => {
    it("says so and passes; SARIF is still a valid, empty log", async () => {
      writeFileSync(join(dir, "config.yaml"), "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n");
      const text = await run(["check", "--file", "config.yaml", "--no-store"]);
      expect(text).toEqual({
        code: 0,
        stdout: "",
        stderr: "image-check check: no image references in config.yaml\n",
      });
      const sarif = await run(["check", "--file", "config.yaml", "--no-store", "--format", "sarif"]);
      expect(sarif.code).toBe(0);
      expect((JSON.parse(sarif.stdout) as { runs: { results: unknown[] }[] }).runs[0]!.results).toEqual([]);
    });
  });

  describe("when a file is bad", () => {
    it.each([
      ["an unreadable path", "missing/Dockerfile", "missing/Dockerfile: cannot be read (ENOENT)"],
      ["a folder", ".", ".: not a regular file"],
      ["/dev/zero", "/dev/zero", "/dev/zero: not a regular file"],
    ])("refuses %s with one line and exit 64", async (_what, file, message) => {
      const r = await run(["check", "--file", file, "--no-store"]);
      expect(r.code).toBe(64);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`image-check check: ${message}\n`);
    });

    it("refuses a 10 MB file before parsing it", async () => {
      writeFileSync(join(dir, "big.yaml"), `a: "${"x".repeat(10 * 1024 * 1024)}"\n`);
      const r = await run(["check", "--file", "big.yaml", "--no-store"]);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/^image-check check: big\.yaml: \d+ bytes, larger than \d+/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
  });
});

describe("image-check pin", () => {
  let repo: string;
  let single: string;
  let index: string;

  beforeAll(async () => {
    repo = randomRepo("pin");
    single = (await pushImage(getTestbed().open, repo, clean, "1.0")).digest;
    index = (
      await pushIndex(
        getTestbed().open,
        `${repo}-multi`,
        {
          images: [
            { spec: clean, platform: { os: "linux", architecture: "amd64" } },
            { spec: clean, platform: { os: "linux", architecture: "arm64" } },
          ],
        },
        "2.0",
      )
    ).digest;
  });

  function files(name: string) {
    const d = mkdtempSync(join(dir, `${name}-`));
    const dockerfile = `# syntax=docker/dockerfile:1\nARG BASE=${host}/${repo}:1.0 # keep in step\nFROM \${BASE} AS build\nFROM ${host}/${repo}-multi:2.0\nCOPY --from=build /a /a\n`;
    const manifest = `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: "${host}/${repo}:1.0"   # app\n`;
    writeFileSync(join(d, "Dockerfile"), dockerfile);
    writeFileSync(join(d, "pod.yaml"), manifest);
    return { d, dockerfile, manifest };
  }

  describe("without --write", () => {
    it("prints a unified diff that patch applies, and changes no file", async () => {
      const { d, dockerfile, manifest } = files("diff");
      const r = await runCli(["pin", "Dockerfile", "pod.yaml", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`+ARG BASE=${host}/${repo}:1.0@${single} # keep in step`);
      expect(r.stdout).toContain(`+FROM ${host}/${repo}-multi:2.0@${index}`);
      expect(r.stdout).toContain(`+    - image: "${host}/${repo}:1.0@${single}"   # app`);
      expect(readFileSync(join(d, "Dockerfile"), "utf8")).toBe(dockerfile);
      expect(readFileSync(join(d, "pod.yaml"), "utf8")).toBe(manifest);
      writeFileSync(join(d, "pin.diff"), r.stdout);
      await exec("patch", ["-p1", "--dry-run", "-i", "pin.diff"], { cwd: d });
    });
  });

  describe("with --write", () => {
    it("rewrites only the references, and a second run changes nothing", async () => {
      const { d, dockerfile, manifest } = files("write");
      const mode = statSync(join(d, "Dockerfile")).mode;
      const first = await runCli(["pin", "Dockerfile", "pod.yaml", "--write", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(first.code).toBe(0);
      expect(readFileSync(join(d, "Dockerfile"), "utf8")).toBe(
        dockerfile
          .replace(`${repo}:1.0 #`, `${repo}:1.0@${single} #`)
          .replace(`${repo}-multi:2.0\n`, `${repo}-multi:2.0@${index}\n`),
      );
      expect(readFileSync(join(d, "pod.yaml"), "utf8")).toBe(manifest.replace(':1.0"', `:1.0@${single}"`));
      expect(statSync(join(d, "Dockerfile")).mode).toBe(mode);
      // No temporary file is left behind.
      expect(readdirSync(d).sort()).toEqual(["Dockerfile", "pod.yaml"]);

      const second = await runCli(["pin", "Dockerfile", "pod.yaml", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(second.code).toBe(0);
      expect(second.stdout).toBe("");
    });
  });

  describe("when a pinned reference's tag now points elsewhere", () => {
    it("reports the conflict and rewrites nothing", async () => {
      const d = mkdtempSync(join(dir, "conflict-"));
      const stale = `sha256:${"0".repeat(64)}`;
      const text = `FROM ${host}/${repo}:1.0@${stale}\nFROM ${host}/${repo}-multi:2.0\n`;
      writeFileSync(join(d, "Dockerfile"), text);
      const r = await runCli(["pin", "Dockerfile", "--write", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `Dockerfile:1: tag.digest-conflict: ${host}/${repo}:1.0@${stale} is pinned to ${stale}, but its tag now resolves to ${single}`,
      );
      // The other reference is still pinned; the conflicting one is left for a reviewer.
      expect(readFileSync(join(d, "Dockerfile"), "utf8")).toBe(
        `FROM ${host}/${repo}:1.0@${stale}\nFROM ${host}/${repo}-multi:2.0@${index}\n`,
      );
    });
  });

  describe("when a tag cannot be resolved", () => {
    it("exits 3 and writes nothing", async () => {
      const d = mkdtempSync(join(dir, "missing-"));
      const text = `FROM ${host}/${repo}:1.0\nFROM ${host}/${repo}:no-such-tag\n`;
      writeFileSync(join(d, "Dockerfile"), text);
      const r = await runCli(["pin", "Dockerfile", "--write", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/no-such-tag.*\nimage-check pin: nothing was written\n$/);
      expect(readFileSync(join(d, "Dockerfile"), "utf8")).toBe(text);
    });
  });

  describe("when a file cannot be used", () => {
    it("exits 64 with one line and writes nothing", async () => {
      const d = mkdtempSync(join(dir, "bad-"));
      writeFileSync(join(d, "Dockerfile"), `FROM ${host}/${repo}:1.0\n`);
      writeFileSync(join(d, "values.yaml"), "replicas: 3\n");
      const r = await runCli(["pin", "Dockerfile", "values.yaml", "--write", "--policy", policy], {
        env: { HOME: dir },
        cwd: d,
      });
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/^image-check pin: values\.yaml:1: not a Dockerfile/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(readFileSync(join(d, "Dockerfile"), "utf8")).toBe(`FROM ${host}/${repo}:1.0\n`);
    });
  });
});
