import { describe, expect, it } from "vitest";
import { configChecks, isRootUser } from "../../src/checks/config.js";
import type { Finding } from "../../src/checks/types.js";
import type { ImageConfigFacts } from "../../src/facts/model.js";
import { cleanContext, cleanFacts, reportFor } from "../support/facts.js";

function run(config: Partial<ImageConfigFacts>, compressedSize?: number): Finding[] {
  const facts = cleanFacts();
  facts.config = { ...facts.config, ...config };
  if (compressedSize !== undefined) facts.compressedSize = compressedSize;
  return configChecks(facts, cleanContext());
}
const ids = (fs: Finding[]) => fs.map((f) => f.id).sort();

describe("config checks", () => {
  it("find nothing in the clean image", () => {
    expect(run({})).toEqual([]);
  });

  describe("config.root-user", () => {
    it.each(["", "root", "0", "0:0", "root:root", " 0:1000"])("fires for user %j", (user) => {
      expect(isRootUser(user)).toBe(true);
      expect(ids(run({ user }))).toEqual(["config.root-user"]);
    });
    it.each(["10001", "app", "65534:65534", "1000:0", "nobody"])("does not fire for user %j", (user) => {
      expect(isRootUser(user)).toBe(false);
    });
  });

  describe("config.secret-env", () => {
    it.each([
      ["a secret-named variable", "DB_PASSWORD=hunter2hunter2", "DB_PASSWORD"],
      ["an AWS key under any name", "SOME_ID=AKIAIOSFODNN7EXAMPLE", "SOME_ID"],
      ["an AWS key id alone", "AWS_ACCESS_KEY_ID=AKIAQ3VZ7XJ2M5K8N4RT", "AWS_ACCESS_KEY_ID"],
      [
        "a 40-character secret without an AWS key id",
        "AWS_SECRET_ACCESS_KEY=q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R",
        "AWS_SECRET_ACCESS_KEY",
      ],
      ["a password in a URL", "DATABASE_URL=postgres://app:s3cr3t-pw@db:5432/app", "DATABASE_URL"],
    ])("fires for %s, naming the variable", (_what, entry, name) => {
      const [f] = run({ env: [entry] });
      expect(f?.id).toBe("config.secret-env");
      expect(f?.evidence.env).toBe(name);
      expect(JSON.stringify(f)).not.toContain(entry.slice(entry.indexOf("=") + 1));
    });

    it.each([
      "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
      "PHP_GPG_KEYS=39B641343D8C104B2B146DC3F9C39DC0B9698544 E60913E4DF209907D8E30D96659A97C9CF2A795A",
      "PYTHON_SHA256=24887e92e2af4bcc2e9d2b9b7b1d56d4b2a1a1b0b6a7a1b1c1d1e1f1a1b1c1d1",
      "REDIS_DOWNLOAD_SHA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "JSYAML_CHECKSUM=abc",
      "POSTGRES_PASSWORD=",
      "POSTGRES_PASSWORD_FILE=/run/secrets/pg",
      "MYSQL_ALLOW_EMPTY_PASSWORD=yes",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
      "NPM_TOKEN",
    ])("does not fire for %s", (entry) => {
      expect(run({ env: [entry] })).toEqual([]);
    });
  });

  describe("config.credential", () => {
    const AWS_ID = "AKIAQ3VZ7XJ2M5K8N4RT";
    const AWS_SECRET = "q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R";
    it.each([
      ["a GitHub token", `GH=ghp_${"x1Y2z3".repeat(6)}`, "GH"],
      ["a fine-grained GitHub token", `TOKEN=github_pat_${"A1b2C3d4E5".repeat(5)}`, "TOKEN"],
      ["a GitLab token", "CI_TOKEN=glpat-abcdefghij0123456789", "CI_TOKEN"],
      ["a Slack token", "SLACK=xoxb-1234567890-abcdefghijkl", "SLACK"],
      ["an npm token", `NPM=npm_${"a1".repeat(18)}`, "NPM"],
      ["a PyPI token", `TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmc${"CJDk0ZTc1Yj".repeat(10)}`, "TWINE_PASSWORD"],
      ["a Stripe live key", "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE"],
      [
        "a private key block",
        "KEY=-----BEGIN RSA PRIVATE KEY-----MIIEow-----END RSA PRIVATE KEY-----",
        "KEY",
      ],
    ])("fires for %s, naming the variable and never showing it", (_what, entry, name) => {
      const found = run({ env: [entry] });
      expect(found.map((f) => f.id)).toEqual(["config.credential"]);
      expect(found[0]!.severity).toBe("critical");
      expect(found[0]!.evidence.env).toBe(name);
      expect(JSON.stringify(found)).not.toContain(entry.slice(entry.indexOf("=") + 1));
    });

    it("fires for an AWS key id with its secret, once for each variable", () => {
      const found = run({ env: [`AWS_ACCESS_KEY_ID=${AWS_ID}`, `AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`] });
      expect(found.map((f) => [f.id, f.evidence.env])).toEqual([
        ["config.credential", "AWS_ACCESS_KEY_ID"],
        ["config.credential", "AWS_SECRET_ACCESS_KEY"],
      ]);
      expect(found[1]!.title).toBe(
        "The environment variable AWS_SECRET_ACCESS_KEY holds an AWS secret access key",
      );
      expect(JSON.stringify(found)).not.toContain(AWS_ID);
      expect(JSON.stringify(found)).not.toContain(AWS_SECRET);
    });

    it("blocks the image of the report (AWS key pair in ENV, curl | sh, root, sshd) under the default policy", () => {
      const facts = cleanFacts();
      facts.config.env.push(`AWS_ACCESS_KEY_ID=${AWS_ID}`, `AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`);
      facts.config.user = "";
      facts.config.exposedPorts.push("22/tcp");
      facts.history.push({
        createdBy:
          "RUN /bin/sh -c curl -fsSL https://example.com/i.sh | sh && apt-get install -y openssh-server",
        emptyLayer: false,
      });
      const report = reportFor(facts);
      expect(report.verdict).toBe("block");
      expect(report.findings.filter((f) => f.id === "config.credential")).toHaveLength(2);
      expect(JSON.stringify(report)).not.toContain(AWS_SECRET);
      expect(JSON.stringify(report)).not.toContain(AWS_ID);
    });

    it("tells how to pass the value from a file in words that read for any variable name", () => {
      const found = run({
        env: [
          `AWS_ACCESS_KEY_ID=${AWS_ID}`,
          `AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`,
          "DB_PASSWORD=hunter2hunter2",
        ],
      });
      expect(found.map((f) => f.id)).toEqual(["config.credential", "config.credential", "config.secret-env"]);
      expect(found[0]!.detail).toContain(
        "pass it at run time from a file (--env-file, or AWS_ACCESS_KEY_ID_FILE set to the path of a mounted secret, when the image reads one)",
      );
      expect(found[2]!.detail).toContain(
        "(--env-file, or DB_PASSWORD_FILE set to the path of a mounted secret",
      );
      for (const f of found) expect(f.detail).not.toMatch(/\ba [AEIOU]/);
    });

    it("names the token's format when the variable's name matched first", () => {
      const [f] = run({ env: [`NPM_TOKEN=npm_${"a1".repeat(18)}`] });
      expect(f?.id).toBe("config.credential");
      expect(f?.title).toBe("The environment variable NPM_TOKEN holds an npm token");
    });

    it("leaves name-based secrets beside it to config.secret-env", () => {
      const found = run({ env: [`GH=ghp_${"x1Y2z3".repeat(6)}`, "DB_PASSWORD=hunter2hunter2"] });
      expect(found.map((f) => f.id)).toEqual(["config.credential", "config.secret-env"]);
    });
  });

  describe("config.ssh-port", () => {
    it.each(["22/tcp", "22", "20-25/tcp"])("fires for %s", (p) => {
      expect(ids(run({ exposedPorts: [p] }))).toEqual(["config.ssh-port"]);
    });
    it.each(["2222/tcp", "8022/tcp", "80/tcp"])("does not fire for %s", (p) => {
      expect(run({ exposedPorts: [p] })).toEqual([]);
    });
  });

  describe("config.sensitive-volume", () => {
    it.each(["/", "/proc", "/sys", "/dev", "/var/run/docker.sock", "/etc", "/etc/", "//proc"])(
      "fires for %s",
      (v) => {
        expect(ids(run({ volumes: [v] }))).toEqual(["config.sensitive-volume"]);
      },
    );
    it.each(["/data", "/var/lib/postgresql/data", "/etc-data", "/var/run"])("does not fire for %s", (v) => {
      expect(run({ volumes: [v] })).toEqual([]);
    });
  });

  describe("config.no-healthcheck", () => {
    it("fires without a HEALTHCHECK", () => {
      expect(ids(run({ healthcheck: null }))).toEqual(["config.no-healthcheck"]);
    });
    it("fires for HEALTHCHECK NONE", () => {
      expect(ids(run({ healthcheck: { test: ["NONE"] } }))).toEqual(["config.no-healthcheck"]);
    });
  });

  describe("config.large-image", () => {
    it("fires above the policy's maxSizeMB", () => {
      const [f] = run({}, 600_000_000);
      expect(f?.id).toBe("config.large-image");
      expect(f?.evidence).toMatchObject({ compressedMB: 600, maxSizeMB: 500 });
    });
    it("does not fire at the limit or when the size is unknown", () => {
      expect(run({}, 500_000_000)).toEqual([]);
      const facts = cleanFacts();
      delete facts.compressedSize;
      expect(configChecks(facts, cleanContext())).toEqual([]);
    });
  });
});
