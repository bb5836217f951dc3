import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactFacts } from "../../src/checks/redact.js";
import { humanSize, renderFacts, safe } from "../../src/cli/inspect.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { LIMITS } from "../../src/registry/index.js";
import { type CliRun, runCli } from "../support/cli.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { moduleGraph } from "../support/module-graph.js";
import { slowBody, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";

const testbed = getTestbed();
const runProcess = promisify(execFile);

let home: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "image-check-inspect-"));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, { env: { HOME: home, DOCKER_CONFIG: home, ...env }, cwd: home });
}

describe("image-check inspect", () => {
  describe("when the reference is invalid", () => {
    it.each(["UPPER/case", "a::b", "", "a".repeat(300), "name@sha256:short"])(
      "prints one line and exits 64 for %j",
      async (ref) => {
        const { code, stdout, stderr } = await run(["inspect", ref]);
        expect(code).toBe(64);
        expect(stdout).toBe("");
        expect(stderr.endsWith("\n")).toBe(true);
        expect(stderr.trimEnd().split("\n")).toHaveLength(1);
        expect(stderr).toContain("invalid reference");
      },
    );
  });

  describe("when the arguments are wrong", () => {
    it.each([
      [["inspect"]],
      [["inspect", "a", "b"]],
      [["inspect", "nginx", "--bogus"]],
      [["inspect", "nginx", "--platform", "linux"]],
      [["inspect", "nginx", "--source", "cloud"]],
    ])("exits 64 for %j", async (args) => {
      const { code, stderr } = await run(args);
      expect(code).toBe(64);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    });
  });

  it("prints its help", async () => {
    const { code, stdout } = await run(["inspect", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: image-check inspect REF");
  });

  describe("when the registry cannot be asked", () => {
    it("prints one line and exits 3 (a loopback registry the policy does not allow)", async () => {
      const { code, stdout, stderr } = await run(["inspect", `${testbed.open.host}/some/repo:1`]);
      expect(code).toBe(3);
      expect(stdout).toBe("");
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(stderr).toContain("allowPrivate");
      // ...and how to make and pass the policy that would allow it.
      expect(stderr).toContain("image-check policy --print-default");
      expect(stderr).toContain("--policy");
      expect(stderr).toContain("IMAGE_CHECK_POLICY");
    });

    it("says plain http was refused and what to add, once the host is allowed private only", async () => {
      const policy = join(home, "private-only.yaml");
      writeFileSync(policy, `registries:\n  allowPrivate: ["${testbed.open.host}"]\n`);
      const { code, stderr } = await run(["inspect", `${testbed.open.host}/some/repo:1`, "--policy", policy]);
      expect(code).toBe(3);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(stderr).toContain(
        `plain http refused: add "${testbed.open.host}" to the policy's registries.allowInsecure`,
      );
      expect(stderr).toContain("image-check policy --print-default");
      expect(stderr).not.toContain("EPROTO)\n");
    });
  });

  describe("when the policy allows the registry", () => {
    let repo: string;
    let policyFile: string;
    beforeAll(async () => {
      repo = randomRepo("inspect");
      await pushImage(
        testbed.open,
        repo,
        {
          config: {
            User: "app",
            Env: ["PATH=/bin", "API_TOKEN=hunter2hunter2", "GPG_KEY=0123ABCD"],
            Labels: { evil: "a\u001b[31mred" },
            ExposedPorts: { "80/tcp": {} },
          },
          history: [{ created_by: "COPY app /app # buildkit" }],
        },
        "1",
      );
      policyFile = join(home, "policy.yaml");
      writeFileSync(
        policyFile,
        `registries:\n  allowPrivate: ["${testbed.open.host}"]\n  allowInsecure: ["${testbed.open.host}"]\n`,
      );
    });

    it("lists the repository's tags only with --tags", async () => {
      await pushImage(testbed.open, repo, { config: { User: "app" } }, "2.0.0");
      const without = JSON.parse(
        (await run(["inspect", `${testbed.open.host}/${repo}:1`, "--json", "--policy", policyFile])).stdout,
      ) as ImageFacts;
      expect(without.registryInfo?.tags).toBeUndefined();
      const r = await run(["inspect", `${testbed.open.host}/${repo}:1`, "--tags", "--policy", policyFile]);
      expect(r.code).toBe(0);
      const line = r.stdout.split("Tags (2)\n")[1]?.split("\n")[0] ?? "";
      expect(line.trim().split(" ").sort()).toEqual(["1", "2.0.0"]);
    });

    it("refuses a single-platform image of another platform than an explicit --platform", async () => {
      const r = await run([
        "inspect",
        `${testbed.open.host}/${repo}:1`,
        "--platform",
        "linux/arm64",
        "--policy",
        policyFile,
      ]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("linux/amd64, not linux/arm64");
    });

    it("gives up with one line and exit 3 when the registry is slower than limits.checkSeconds", async () => {
      const slow = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.path.includes("/manifests/")
            ? { status: 200, body: slowBody(1024 * 1024, { chunk: 1024, everyMs: 50 }) }
            : undefined,
      });
      try {
        const policy = join(home, "slow.yaml");
        writeFileSync(
          policy,
          `registries:\n  allowPrivate: ["${slow.host}"]\n  allowInsecure: ["${slow.host}"]\nlimits:\n  checkSeconds: 0.5\n`,
        );
        const r = await run(["inspect", `${slow.host}/${repo}:1`, "--policy", policy]);
        expect(r.code).toBe(3);
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain("limits.checkSeconds");
      } finally {
        await slow.stop();
      }
    });

    it("stops at a named number of tags and says the list is truncated", async () => {
      // A registry with endless pages of 3,000 tags each.
      let page = 0;
      const endless = await startProxy(testbed.open.host, {
        respond: (req) => {
          if (!req.path.endsWith("/tags/list")) return undefined;
          page++;
          const tags = Array.from({ length: 3000 }, (_, i) => `p${page}-${i}`);
          return {
            status: 200,
            headers: {
              "content-type": "application/json",
              link: `<${req.path}?n=1000&last=p${page}-2999>; rel="next"`,
            },
            body: JSON.stringify({ name: repo, tags }),
          };
        },
      });
      try {
        const policy = join(home, "endless.yaml");
        writeFileSync(
          policy,
          `registries:\n  allowPrivate: ["${endless.host}"]\n  allowInsecure: ["${endless.host}"]\n`,
        );
        const ref = `${endless.host}/${repo}:1`;
        const json = await run(["inspect", ref, "--tags", "--json", "--policy", policy]);
        const facts = JSON.parse(json.stdout) as ImageFacts;
        expect(facts.registryInfo?.tags).toHaveLength(LIMITS.tagsTotal);
        expect(facts.registryInfo?.tagsTruncated).toBe(true);
        expect(endless.requests.filter((r) => r.path.endsWith("/tags/list"))).toHaveLength(
          Math.ceil(LIMITS.tagsTotal / 3000),
        );
        const text = await run(["inspect", ref, "--tags", "--policy", policy]);
        expect(text.stdout).toContain(`Tags (${LIMITS.tagsTotal}, truncated: the registry has more`);
      } finally {
        await endless.stop();
      }
    });

    it("prints the facts as JSON with --json", async () => {
      const { code, stdout } = await run([
        "inspect",
        `${testbed.open.host}/${repo}:1`,
        "--json",
        "--policy",
        policyFile,
      ]);
      expect(code).toBe(0);
      const facts = JSON.parse(stdout) as ImageFacts;
      expect(facts.config.user).toBe("app");
      expect(facts.config.exposedPorts).toEqual(["80/tcp"]);
      expect(facts.source).toBe("registry");
    });

    it("exits 64 with one line for a policy file that does not exist", async () => {
      const { code, stderr } = await run([
        "inspect",
        `${testbed.open.host}/${repo}:1`,
        "--policy",
        join(home, "nope.yaml"),
      ]);
      expect(code).toBe(64);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    });

    it("runs as a process that prints the facts and exits by itself", async () => {
      const { stdout } = await runProcess(
        process.execPath,
        [
          "--import",
          "tsx",
          resolve("src/cli/main.ts"),
          "inspect",
          `${testbed.open.host}/${repo}:1`,
          "--json",
        ],
        { env: { ...process.env, IMAGE_CHECK_POLICY: policyFile, DOCKER_CONFIG: home }, timeout: 60_000 },
      );
      expect((JSON.parse(stdout) as ImageFacts).config.user).toBe("app");
    });

    it("never prints a secret in full in --json either", async () => {
      const { code, stdout } = await run([
        "inspect",
        `${testbed.open.host}/${repo}:1`,
        "--json",
        "--policy",
        policyFile,
      ]);
      expect(code).toBe(0);
      expect(stdout).not.toContain("hunter2hunter2");
      expect((JSON.parse(stdout) as ImageFacts).config.env).toContain("API_TOKEN=hu…r2 (14 chars)");
    });

    it("prints a readable summary that masks secrets and escapes control characters", async () => {
      const { code, stdout } = await run([
        "inspect",
        `${testbed.open.host}/${repo}:1`,
        "--policy",
        policyFile,
      ]);
      expect(code).toBe(0);
      expect(stdout).toContain("User         app");
      expect(stdout).toContain("API_TOKEN=hu…r2 (14 chars)");
      expect(stdout).not.toContain("hunter2");
      expect(stdout).toContain("GPG_KEY=0123ABCD");
      expect(stdout).toContain("evil=a\\x1b[31mred");
      expect(stdout).not.toContain("\u001b");
      expect(stdout).toContain("COPY app /app # buildkit");
      expect(stdout).toMatch(/Gathered with \d+ request/);
    });
  });
});

describe("renderFacts helpers", () => {
  it.each([
    ["PASSWORD=s3cr3tpassw0rd", "PASSWORD=s3…rd (14 chars)"],
    ["DB_PASS=", "DB_PASS="],
    ["GPG_KEY=B42F6819007F00F88E364FD4036A9C25BF357DD4", "GPG_KEY=B42F6819007F00F88E364FD4036A9C25BF357DD4"],
    ["PYTHON_SHA256=abc", "PYTHON_SHA256=abc"],
    ["SECRET_FILE=/run/secrets/x", "SECRET_FILE=/run/secrets/x"],
    [`NOTE=ghp_${"a".repeat(36)}`, "NOTE=ghp_…aaaa (40 chars)"],
    ["HOME=/root", "HOME=/root"],
  ])("shows %s as %s", (entry, shown) => {
    const facts = { ...factsWithEnv([entry]) };
    expect(redactFacts(facts).config.env).toEqual([shown]);
  });

  it("leaves out attestation and signature bytes, keeping their digest and size", () => {
    const provenance = Buffer.from(JSON.stringify({ buildArgs: { GITHUB_TOKEN: `ghp_${"a".repeat(36)}` } }));
    const blob = {
      mediaType: "application/vnd.in-toto+json",
      digest: "sha256:ab",
      size: provenance.length,
      annotations: {},
      data: provenance.toString("base64"),
    };
    const facts = {
      ...factsWithEnv([]),
      signatures: [{ blobs: [blob] }],
      attestations: [{ blobs: [blob] }],
    } as unknown as ImageFacts;
    const shown = redactFacts(facts);
    for (const b of [...shown.signatures, ...shown.attestations].flatMap((a) => a.blobs)) {
      expect(b).toEqual({ ...blob, data: "", omitted: true });
    }
    expect(JSON.stringify(shown)).not.toContain(blob.data);
  });

  it("escapes control characters", () => {
    expect(safe("a\nb\u001bc\u2028")).toBe("a\\x0ab\\x1bc\\u2028");
  });

  it("prints sizes in SI units like docker", () => {
    expect(humanSize(999)).toBe("999 B");
    expect(humanSize(3_200)).toBe("3.20 kB");
    expect(humanSize(45_600_000)).toBe("45.6 MB");
  });

  it("renders an image without a healthcheck, signatures or attestations", () => {
    const facts: ImageFacts = {
      reference: { registry: "r.io", repository: "a/b", tag: "1", original: "r.io/a/b:1" },
      source: "registry",
      digest: `sha256:${"1".repeat(64)}`,
      configDigest: `sha256:${"2".repeat(64)}`,
      platform: { os: "linux", architecture: "amd64" },
      platforms: [{ os: "linux", architecture: "amd64" }],
      config: {
        user: "",
        env: [],
        labels: {},
        exposedPorts: [],
        volumes: [],
        healthcheck: null,
        entrypoint: null,
        cmd: null,
        workingDir: "",
      },
      history: [],
      layers: [],
      annotations: {},
      indexAnnotations: {},
      signatures: [],
      attestations: [],
      incomplete: [{ part: "signatures", code: "TIMEOUT", message: "slow" }],
      stats: { requests: 5, bytes: 1234, durationMs: 9, byKind: { "GET manifest": 1 } },
    };
    const text = renderFacts(facts);
    expect(text).toContain("User         (none: runs as root)");
    expect(text).toContain("Signatures (0)\n  (none found)");
    expect(text).toContain("signatures: TIMEOUT: slow");
    expect(text).toContain("Gathered with 5 request(s), 1.23 kB, in 9 ms (GET manifest 1)");
  });
});

describe("the inspect module graph", () => {
  it("never loads the store, Slack, drizzle, better-sqlite3 or Bolt", () => {
    const { files, packages } = moduleGraph(resolve("src/cli/inspect.ts"));
    expect([...packages].filter((p) => ["drizzle-orm", "better-sqlite3", "@slack/bolt"].includes(p))).toEqual(
      [],
    );
    expect([...files].filter((f) => /src\/(store|slack|worker)\//.test(f))).toEqual([]);
    expect([...files].some((f) => f.endsWith("src/registry/source.ts"))).toBe(true);
  });
});

/** Minimal facts holding only `env`, for the masking table. */
function factsWithEnv(env: string[]): ImageFacts {
  return {
    config: { env, labels: {}, entrypoint: null, cmd: null, healthcheck: null },
    history: [],
    annotations: {},
    indexAnnotations: {},
    incomplete: [],
    signatures: [],
    attestations: [],
  } as unknown as ImageFacts;
}
