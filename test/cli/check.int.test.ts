import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { openStore } from "../../src/store/index.js";
import { runCli } from "../support/cli.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { getTestbed } from "../support/testbed.js";

function run(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { env: { HOME: dir, IMAGE_CHECK_DB: dbPath, ...env }, cwd: dir });
}

let dir: string;
let dbPath: string;
let policyFile: string;
let host: string;

const cleanish = {
  config: {
    User: "10001:10001",
    Labels: {
      "org.opencontainers.image.source": "https://github.com/acme/app",
      "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
    },
    Healthcheck: { Test: ["CMD", "/app", "health"] },
    Cmd: ["/app"],
  },
  history: [{ created_by: "COPY app /app # buildkit" }],
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ic-check-cli-"));
  dbPath = join(dir, "store.db");
  host = getTestbed().open.host;
  policyFile = join(dir, "policy.yaml");
  // Only what the test registry needs; everything else is the default policy.
  writeFileSync(policyFile, `registries:\n  allowPrivate: ["${host}"]\n  allowInsecure: ["${host}"]\n`);
});

describe("image-check check", () => {
  describe("when the image has findings at the review level", () => {
    it("prints a readable report and exits 1", async () => {
      const repo = randomRepo("cli");
      await pushImage(getTestbed().open, repo, { config: { User: "root" } }, "1.0.0");
      const r = await run(["check", `${host}/${repo}:1.0.0`, "--policy", policyFile, "--no-store"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^REVIEW/);
      expect(r.stdout).toContain("config.root-user");
      expect(r.stdout).toContain("How to run it");
      // Not a terminal: no colour codes.
      expect(r.stdout).not.toContain("\u001b[");
    });
  });

  describe("when --platform names another platform than a single-platform image's", () => {
    let repo: string;
    beforeAll(async () => {
      repo = randomRepo("cli-platform");
      await pushImage(getTestbed().open, repo, cleanish, "1.0.0");
    });

    it("could not check it (exit 3, PLATFORM_NOT_FOUND), as for an index without that platform", async () => {
      const r = await run([
        "check",
        `${host}/${repo}:1.0.0`,
        "--platform",
        "linux/arm64",
        "--json",
        "--policy",
        policyFile,
        "--no-store",
      ]);
      expect(r.code).toBe(3);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.verdict).not.toBe("pass");
      expect(JSON.stringify(report.findings.find((f) => f.id === "check.incomplete"))).toContain(
        "PLATFORM_NOT_FOUND",
      );
    });

    it("still checks it when the platform is only the policy's default", async () => {
      const policy = join(dir, "arm-policy.yaml");
      writeFileSync(policy, `${readFileSync(policyFile, "utf8")}platform: linux/arm64\n`);
      const r = await run(["check", `${host}/${repo}:1.0.0`, "--json", "--policy", policy, "--no-store"]);
      expect(r.code).not.toBe(3);
      expect((JSON.parse(r.stdout) as Report).image.platform).toBe("linux/amd64");
    });
  });

  describe("with --json", () => {
    it("prints the report@1 JSON with the contract's fields", async () => {
      const repo = randomRepo("cli");
      const img = await pushImage(getTestbed().open, repo, cleanish, "2.1.0");
      const r = await run(["check", `${host}/${repo}:2.1.0`, "--json", "--policy", policyFile, "--no-store"]);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.schema).toBe("image-check/report@1");
      expect(report.reference).toBe(`${host}/${repo}:2.1.0`);
      expect(report.image).toMatchObject({
        registry: host,
        repository: repo,
        tag: "2.1.0",
        digest: img.digest,
        manifestDigest: img.digest,
        configDigest: img.configDigest,
        platform: "linux/amd64",
        pinned: `${host}/${repo}:2.1.0@${img.digest}`,
      });
      expect(["pass", "review", "block"]).toContain(report.verdict);
      expect(Object.keys(report.facts)).toEqual(
        expect.arrayContaining(["created", "user", "labels", "history", "signatures", "attestations"]),
      );
      for (const f of report.findings) {
        expect(Object.keys(f)).toEqual(
          expect.arrayContaining(["id", "category", "severity", "title", "detail", "evidence"]),
        );
      }
      expect(Number.isNaN(Date.parse(report.checkedAt))).toBe(false);
      expect(typeof report.durationMs).toBe("number");
    });
  });

  describe("with several references", () => {
    it("checks them all and reports them in the order given, with the worst exit code", async () => {
      const a = randomRepo("cli");
      const b = randomRepo("cli");
      await pushImage(getTestbed().open, a, cleanish, "1.0.0");
      await pushImage(getTestbed().open, b, { config: { User: "root" } }, "1.0.0");
      const refs = [`${host}/${b}:1.0.0`, `${host}/${a}:1.0.0`, `${host}/${randomRepo("missing")}:1.0.0`];
      const r = await run(["check", ...refs, "--json", "--policy", policyFile, "--no-store"]);
      const reports = JSON.parse(r.stdout) as Report[];
      expect(reports.map((x) => x.reference)).toEqual(refs);
      expect(reports[2]!.findings.map((f) => f.id)).toContain("check.incomplete");
      expect(reports[2]!.verdict).not.toBe("pass");
      // No block among them, one could not be checked: 3.
      expect(r.code).toBe(3);
    });
  });

  describe("when a policy blocks at medium", () => {
    it("exits 2", async () => {
      const repo = randomRepo("cli");
      await pushImage(getTestbed().open, repo, { config: { User: "root" } }, "1.0.0");
      const strict = join(dir, "strict.yaml");
      writeFileSync(
        strict,
        `${readFileSync(policyFile, "utf8")}verdict:\n  reviewAt: low\n  blockAt: medium\n`,
      );
      const r = await run(["check", `${host}/${repo}:1.0.0`, "--policy", strict, "--no-store"]);
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/^BLOCK/);
    });
  });

  describe("when the registry is on loopback and the policy does not allow it", () => {
    it("refuses to connect and exits 3 with a report that cannot pass", async () => {
      const repo = randomRepo("cli");
      await pushImage(getTestbed().open, repo, cleanish, "1.0.0");
      const r = await run(["check", `${host}/${repo}:1.0.0`, "--json", "--no-store"]);
      expect(r.code).toBe(3);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.verdict).not.toBe("pass");
      const incomplete = report.findings.find((f) => f.id === "check.incomplete");
      expect(JSON.stringify(incomplete)).toContain("BLOCKED_ADDRESS");
    });
  });

  describe("when the input is wrong", () => {
    it.each([
      [["check"], "missing image reference"],
      [["check", "UPPER/case"], "UPPER/case"],
      [["check", "alpine:3.20", "--frobnicate"], "--frobnicate"],
      [["check", "alpine:3.20", "--source", "cloud"], "--source"],
      [["check", "alpine:3.20", "--platform", "linux"], "linux"],
    ])("%j exits 64 with one line naming the problem", async (args, needle) => {
      const r = await run(args);
      expect(r.code).toBe(64);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(needle);
    });

    it("a Slack setting with a typo does not stop a check (only serve needs it)", async () => {
      const r = await run(["check", "UPPER/case"], { IMAGE_CHECK_APPROVERS: "bob", PORT: "x" });
      // Judged on the reference alone: the Slack variables are not check's to refuse.
      expect(r.stderr).toContain("UPPER/case");
      expect(r.stderr).not.toContain("IMAGE_CHECK_APPROVERS");
    });

    it("a malformed policy file exits 64 with one line naming the file and the field", async () => {
      const bad = join(dir, "bad.yaml");
      writeFileSync(bad, "registries:\n  allowPrivate: 3\n");
      const r = await run(["check", "alpine:3.20", "--policy", bad]);
      expect(r.code).toBe(64);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("bad.yaml");
      expect(r.stderr).toContain("registries.allowPrivate");
    });
  });

  describe("when the store is writable", () => {
    it("records the report, and a later check of a moved tag says tag.moved", async () => {
      const repo = randomRepo("cli");
      const ref = `${host}/${repo}:1.0.0`;
      const first = await pushImage(getTestbed().open, repo, cleanish, "1.0.0");
      const r1 = await run(["check", ref, "--json", "--policy", policyFile]);
      expect((JSON.parse(r1.stdout) as Report).findings.map((f) => f.id)).not.toContain("tag.moved");

      const store = openStore(dbPath);
      try {
        expect(await store.lastKnownDigest(`${host}/${repo}`, "1.0.0")).toBe(first.digest);
      } finally {
        await store.close();
      }

      // The publisher re-points the tag at a different image.
      const second = await pushImage(
        getTestbed().open,
        repo,
        { ...cleanish, history: [{ created_by: "COPY other /app" }] },
        "1.0.0",
      );
      expect(second.digest).not.toBe(first.digest);
      const r2 = await run(["check", ref, "--json", "--policy", policyFile]);
      const moved = (JSON.parse(r2.stdout) as Report).findings.find((f) => f.id === "tag.moved");
      expect(moved).toBeDefined();
      expect(JSON.stringify(moved)).toContain(first.digest);
    });
  });
});

describe("image-check check --vuln-report", () => {
  /** A Trivy JSON report about the image with this config digest, listing one critical vulnerability with a fix. */
  function trivyFor(configDigest: string): string {
    return JSON.stringify({
      SchemaVersion: 2,
      Trivy: { Version: "0.50.1" },
      CreatedAt: new Date().toISOString(),
      ArtifactType: "container_image",
      Metadata: { ImageID: configDigest },
      Results: [
        {
          Target: "app (alpine 3.20.3)",
          Vulnerabilities: [
            {
              VulnerabilityID: "CVE-2024-5535",
              PkgName: "openssl",
              InstalledVersion: "3.3.1-r0",
              FixedVersion: "3.3.1-r1",
              Severity: "CRITICAL",
            },
          ],
        },
      ],
    });
  }

  it("reads the report made for this image: the text report lists it, and the verdict blocks", async () => {
    const repo = randomRepo("cli");
    const img = await pushImage(getTestbed().open, repo, cleanish, "3.0.0");
    const file = join(dir, `${repo.replace(/\W/g, "-")}.trivy.json`);
    writeFileSync(file, trivyFor(img.configDigest));
    const ref = `${host}/${repo}:3.0.0`;
    const text = await run(["check", ref, "--policy", policyFile, "--no-store", "--vuln-report", file]);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain("vuln.critical");
    expect(text.stdout).toMatch(/critical\s+CVE-2024-5535\s+openssl 3\.3\.1-r0 -> 3\.3\.1-r1/);

    const json = await run([
      "check",
      ref,
      "--json",
      "--policy",
      policyFile,
      "--no-store",
      "--vuln-report",
      file,
    ]);
    const report = JSON.parse(json.stdout) as Report;
    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({ kind: "report", scanner: "trivy 0.50.1", signedBy: null }),
    ]);
    expect(report.vulnerabilities?.counts).toEqual({ critical: 1, high: 0, medium: 0, low: 0, unknown: 0 });
    expect(report.findings.map((f) => f.id)).not.toContain("vuln.no-data");
  });

  it("refuses a report that names another image, exit 64", async () => {
    const repo = randomRepo("cli");
    await pushImage(getTestbed().open, repo, cleanish, "3.0.1");
    const file = join(dir, "other.trivy.json");
    writeFileSync(file, trivyFor(`sha256:${"0".repeat(64)}`));
    const r = await run([
      "check",
      `${host}/${repo}:3.0.1`,
      "--policy",
      policyFile,
      "--no-store",
      "--vuln-report",
      file,
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^image-check check: --vuln-report .* is about another image/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it.each([
    ["not JSON", "{not json"],
    ["neither Trivy nor Grype", '{"hello": 1}'],
    ["nested too deep", `${"[".repeat(100)}${"]".repeat(100)}`],
  ])("refuses a report that is %s before fetching anything, exit 64", async (_what, content) => {
    const file = join(dir, "bad.json");
    writeFileSync(file, content);
    const r = await run([
      "check",
      `${host}/never-fetched:1`,
      "--policy",
      policyFile,
      "--no-store",
      "--vuln-report",
      file,
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses a 20 MiB report without parsing it, exit 64", async () => {
    const file = join(dir, "huge.json");
    writeFileSync(file, Buffer.alloc(20 * 1024 * 1024, 0x20));
    const r = await run([
      "check",
      `${host}/never-fetched:1`,
      "--policy",
      policyFile,
      "--no-store",
      "--vuln-report",
      file,
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/larger than 16777216 bytes/);
  });
});
