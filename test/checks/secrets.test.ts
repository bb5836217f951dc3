import { describe, expect, it } from "vitest";
import { redactFacts } from "../../src/checks/redact.js";
import {
  isSecretName,
  mask,
  redact,
  redactText,
  scanAssignment,
  scanText,
} from "../../src/checks/secrets.js";
import type { ImageFacts } from "../../src/facts/model.js";

// Test tokens are shaped like the real formats; none is a live credential (AWS's documented example key).
const AWS = "AKIAIOSFODNN7EXAMPLE";
const GITHUB = `ghp_${"x1Y2z3".repeat(6)}`;
const GITHUB_PAT = `github_pat_11ABCDEFG0${"a".repeat(20)}_${"B".repeat(59)}`;
const GITLAB = "glpat-abcdefghij0123456789";
const SLACK = "xoxb-1234567890-0987654321-abcdefghijklmnop";
const GOOGLE = `AIzaSy${"B1c2D3e4F5".repeat(3)}g6H`; // AIza + 35
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const PRIVATE_KEY =
  "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----";

describe("isSecretName", () => {
  it.each([
    "PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "DB_PASS",
    "API_KEY",
    "apiKey",
    "AWS_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "NPM_TOKEN",
    "_authToken",
    "CLIENT_SECRET",
    "NEW_RELIC_LICENSE_KEY",
    "SECRET_KEY_BASE",
    "x-api-key",
  ])("names %s a secret", (name) => {
    expect(isSecretName(name)).toBe(true);
  });

  it.each([
    "PATH",
    "GPG_KEY",
    "GPG_KEYS",
    "PHP_GPG_KEYS",
    "NGINX_GPGKEY",
    "PYTHON_SHA256",
    "RUBY_DOWNLOAD_SHA256",
    "JSYAML_CHECKSUM",
    "TOMCAT_SHA512",
    "POSTGRES_PASSWORD_FILE",
    "SSL_CERT_FILE",
    "TOKEN_URL",
    "AUTH_METHOD",
    "POSTGRES_HOST_AUTH_METHOD",
    "PASSWORD_MIN_LENGTH",
    "AWS_ACCESS_KEY_ID",
    "PUBLIC_KEY",
    "JWT_PUBLIC_KEY",
    "PWD",
    "PASSENGER_VERSION",
    "MAX_TOKENS",
    "RABBITMQ_PGP_KEY_ID",
    "--password-stdin",
  ])("does not name %s a secret", (name) => {
    expect(isSecretName(name)).toBe(false);
  });
});

describe("scanAssignment", () => {
  describe("when the value matches a known token format", () => {
    it.each([
      ["aws-access-key-id", "SOME_VAR", AWS],
      ["github-token", "GH", GITHUB],
      ["github-token", "CI_THING", GITHUB_PAT],
      ["gitlab-token", "GL", GITLAB],
      ["slack-token", "BOT", SLACK],
      ["google-api-key", "MAPS", GOOGLE],
      ["jwt", "SESSION", JWT],
      ["private-key", "SSH", PRIVATE_KEY],
      ["url-credentials", "DATABASE_URL", "postgres://app:s3cr3t-pw@db:5432/app"],
    ])("finds %s whatever the name (%s)", (kind, name, value) => {
      expect(scanAssignment(name, value).map((m) => m.kind)).toContain(kind);
    });
  });

  describe("when the name is secret-like", () => {
    it("finds a literal value", () => {
      expect(scanAssignment("DB_PASSWORD", "hunter2hunter2")).toEqual([
        { kind: "secret-name", name: "DB_PASSWORD", value: "hunter2hunter2" },
      ]);
    });

    it.each([
      ["an empty value", "DB_PASSWORD", ""],
      ["a reference", "NPM_TOKEN", `\${NPM_TOKEN}`],
      ["a bare reference", "NPM_TOKEN", "$NPM_TOKEN"],
      ["a boolean", "MYSQL_ALLOW_EMPTY_PASSWORD", "yes"],
      ["a path", "SECRET", "/run/secrets/app"],
      ["a placeholder", "API_KEY", "<your-api-key>"],
      ["Java's well-known truststore default", "TRUSTSTORE_PASSWORD", "changeit"],
      ["a plain URL", "AUTH", "https://auth.example.com/"],
      ["a tiny number", "AUTH", "1"],
    ])("ignores %s", (_what, name, value) => {
      expect(scanAssignment(name, value)).toEqual([]);
    });
  });

  describe("when the name is not secret-like", () => {
    it.each([
      ["GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D"],
      ["PHP_GPG_KEYS", "39B641343D8C104B2B146DC3F9C39DC0B9698544 E60913E4DF209907D8E30D96659A97C9CF2A795A"],
      ["PYTHON_SHA256", "24887e92e2af4bcc2e9d2b9b7b1d56d4b2a1a1b0b6a7a1b1c1d1e1f1a1b1c1d1"],
      ["PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ["LANG", "C.UTF-8"],
      ["JAVA_HOME", "/opt/java/openjdk"],
    ])("finds nothing in %s", (name, value) => {
      expect(scanAssignment(name, value)).toEqual([]);
    });

    it("still finds a secret-named pair inside the value", () => {
      const hits = scanAssignment("JAVA_OPTS", "-Xmx512m -Dspring.datasource.password=Tr0ub4dor3");
      expect(hits.map((h) => h.value)).toEqual(["Tr0ub4dor3"]);
    });
  });

  it("does not take a public key block for a secret", () => {
    expect(
      scanText("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"),
    ).toEqual([]);
  });
});

describe("mask", () => {
  it.each([
    [AWS, "AKIA…MPLE (20 chars)"],
    ["hunter2hunter2", "hu…r2 (14 chars)"],
    ["hunter2", "… (7 chars)"],
  ])("masks %s as %s", (value, shown) => {
    expect(mask(value)).toBe(shown);
  });

  it("keeps only the header of a private key", () => {
    expect(mask(PRIVATE_KEY)).toBe(`-----BEGIN RSA PRIVATE KEY-----… (${PRIVATE_KEY.length} chars)`);
  });
});

describe("redact", () => {
  it("replaces every occurrence of every secret with its mask", () => {
    const text = `token=${GITHUB} again ${GITHUB}`;
    const out = redact(text, scanText(text));
    expect(out).not.toContain(GITHUB);
    expect(out).toBe(`token=${mask(GITHUB)} again ${mask(GITHUB)}`);
  });

  it("masks a whole private key block", () => {
    expect(redactText(`key: ${PRIVATE_KEY} end`)).not.toContain("MIIEow");
  });
});

describe("masking secrets that contain one another", () => {
  it.each([
    ["|2 SSH_PASSPHRASE=Sup3rS3cret DB_PASSWORD=Sup3rS3cret2 /bin/sh -c make", "Sup3rS3cret"],
    ["|2 API_KEY=abcd1234efgh DB_PASSWORD=abcd1234efgh5678 /bin/sh -c make", "abcd1234efgh"],
    ["/bin/sh -c export SECRET='pass Sup3rS3cret' && mysql -pSup3rS3cret", "Sup3rS3cret"],
  ])("never shows the shorter one in full: %s", (createdBy, secret) => {
    const facts = {
      config: { env: [], labels: {}, entrypoint: null, cmd: null, healthcheck: null },
      history: [{ createdBy, emptyLayer: false }],
      annotations: {},
      indexAnnotations: {},
      incomplete: [],
      signatures: [],
      attestations: [],
    } as unknown as ImageFacts;
    const shown = redactFacts(facts).history[0]!.createdBy;
    expect(shown).not.toContain(secret);
    // The build step is still readable around the masks.
    expect(shown).toContain("/bin/sh -c");
  });
});

describe("Slack token formats", () => {
  it.each([
    "xoxb-1234567890-0987654321-abcdefghijklmnop",
    "xoxp-1234567890-0987654321-abcdefghijklmnop",
    "xoxe-1-My0xLTEyMzQ1Njc4OTAtYWJjZGVm",
    "xoxe.xoxp-1-My0xLTEyMzQ1Njc4OTAtYWJjZGVm",
    "xoxc-1234567890-0987654321-abcdefghijklmnop",
  ])("finds %s in free text", (token) => {
    const found = scanText(`curl -H "Authorization: Bearer ${token}" https://slack.com/api/auth.test`);
    expect(found.map((m) => m.value)).toContain(token);
  });
});
