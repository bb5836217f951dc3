// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile and compose variables are the input under test.
import { describe, expect, it } from "vitest";
import { FILE_LIMITS, type FileErrorCode, referencesIn } from "../../src/files/index.js";

/** [file, line, reference] of every reference found. */
function found(file: string, text: string): [string, number, string][] {
  return referencesIn(file, text).references.map((r) => [r.file, r.line, r.reference]);
}

/** The code and message of the error `referencesIn` throws. */
function failure(file: string, text: string): { code: FileErrorCode; message: string } {
  try {
    referencesIn(file, text);
  } catch (err) {
    return err as { code: FileErrorCode; message: string };
  }
  throw new Error("no error");
}

describe("referencesIn", () => {
  describe("for a Dockerfile", () => {
    it.each([
      ["FROM in any case, with --platform", "from --platform=$BUILDPLATFORM nginx:1.27\n", [1, "nginx:1.27"]],
      ["an ARG default before FROM, as ${BASE}", "ARG BASE=redis:7\nFROM ${BASE}\n", [2, "redis:7"]],
      ["an ARG default as $BASE", "ARG BASE=redis:7\nFROM $BASE AS x\n", [2, "redis:7"]],
      ["a ${VAR:-default} with no ARG", "FROM ${BASE:-alpine:3.20}\n", [1, "alpine:3.20"]],
      ["a quoted ARG default", 'ARG BASE="node:20-slim"\nFROM $BASE\n', [2, "node:20-slim"]],
      [
        "parts put together",
        "ARG REG=ghcr.io\nARG TAG=1.0\nFROM ${REG}/acme/app:${TAG}\n",
        [3, "ghcr.io/acme/app:1.0"],
      ],
      ["a continued FROM line", "FROM \\\n  # a comment inside\n  python:3.12 AS py\n", [1, "python:3.12"]],
      ["the escape directive", "# escape=`\nFROM `\n  busybox:1.36\n", [2, "busybox:1.36"]],
      [
        "an ARG after FROM, used by COPY --from",
        "FROM alpine:3.20\nARG TOOLS=busybox:1.36\nCOPY --from=$TOOLS /bin/sh /sh\n",
        [1, "alpine:3.20"],
        [3, "busybox:1.36"],
      ],
    ])("finds %s", (_what, text, ...expected) => {
      expect(found("Dockerfile", text)).toEqual(
        (expected as [number, string][]).map(([l, r]) => ["Dockerfile", l, r]),
      );
    });

    it("skips stage names, stage numbers and scratch", () => {
      const text =
        "FROM golang:1.23 AS build\nFROM build AS test\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\n";
      expect(found("Dockerfile", text)).toEqual([["Dockerfile", 1, "golang:1.23"]]);
    });

    it("gives the place of the literal text for pin: the ARG line for FROM $BASE", () => {
      const text = "ARG BASE=redis:7 # the cache\nFROM $BASE\n";
      const [r] = referencesIn("Dockerfile", text).references;
      expect(r!.literal).toEqual({ offset: text.indexOf("redis:7"), text: "redis:7" });
    });

    it("gives no literal for a reference put together from parts", () => {
      const [r] = referencesIn("Dockerfile", "ARG TAG=1\nFROM app:${TAG}-slim\n").references;
      expect(r!.literal).toBeUndefined();
    });

    it("reads FROM lines by content when the file has another name", () => {
      expect(found("build/base.docker", "# base\nFROM debian:12\n")).toEqual([
        ["build/base.docker", 2, "debian:12"],
      ]);
    });
  });

  describe("for a compose file", () => {
    it("finds services.*.image, with ${VAR:-default} defaults, at their lines", () => {
      const text =
        'services:\n  web:\n    image: "nginx:1.27" # web\n  api:\n    image: ${API:-ghcr.io/acme/api:2.0}\n  local:\n    build: .\n';
      expect(found("compose.yaml", text)).toEqual([
        ["compose.yaml", 3, "nginx:1.27"],
        ["compose.yaml", 5, "ghcr.io/acme/api:2.0"],
      ]);
    });
  });

  describe("for Kubernetes YAML", () => {
    it("finds containers, initContainers and ephemeralContainers of every workload, in many documents", () => {
      const text = [
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: redis:7\n",
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - image: busybox:1.36\n      containers:\n        - image: &app ghcr.io/acme/app:1.0\n",
        "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{ name: c, image: 'alpine:3.20' }]\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: &dbg busybox:1.37\n  ephemeralContainers:\n    - image: *dbg\n",
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: not-an-image:1\n",
      ].join("---\n");
      expect(found("k8s.yaml", text)).toEqual([
        ["k8s.yaml", 6, "redis:7"],
        ["k8s.yaml", 14, "busybox:1.36"],
        ["k8s.yaml", 16, "ghcr.io/acme/app:1.0"],
        ["k8s.yaml", 25, "alpine:3.20"],
        ["k8s.yaml", 31, "busybox:1.37"],
        ["k8s.yaml", 33, "busybox:1.37"],
      ]);
    });
  });

  describe("when the input is bad", () => {
    const bomb = `a: &a ["x","x","x","x","x","x","x","x","x","x"]\n${["b", "c", "d", "e", "f", "g"]
      .map((k, i) => `${k}: &${k} [${Array(10).fill(`*${"abcdefg"[i]}`).join(",")}]`)
      .join("\n")}\n`;
    it.each<[string, string, string, FileErrorCode, RegExp]>([
      [
        "a file of another kind",
        "notes.txt",
        "hello\n",
        "UNSUPPORTED_FILE",
        /^notes\.txt:1: not a Dockerfile/,
      ],
      ["YAML of another kind", "values.yaml", "replicas: 3\n", "UNSUPPORTED_FILE", /^values\.yaml:1: /],
      ["a YAML bomb", "bomb.yaml", bomb, "INVALID_YAML", /^bomb\.yaml:1: refused: .*aliases/],
      ["broken YAML", "k.yaml", "apiVersion: v1\nkind: [\n", "INVALID_YAML", /^k\.yaml:\d+: not valid YAML/],
      [
        "an undefined ARG",
        "Dockerfile",
        "FROM alpine:3.20\nARG X\nFROM ${NOPE}\n",
        "UNDEFINED_VARIABLE",
        /^Dockerfile:3: \$\{NOPE\} has no value/,
      ],
      [
        "an ARG declared without a default",
        "Dockerfile",
        "ARG BASE\nFROM $BASE\n",
        "UNDEFINED_VARIABLE",
        /^Dockerfile:2: /,
      ],
      [
        "a compose variable without a default",
        "compose.yml",
        "services:\n  a:\n    image: app:${TAG}\n",
        "UNDEFINED_VARIABLE",
        /^compose\.yml:3: /,
      ],
      [
        "a reference that does not parse",
        "Dockerfile",
        "FROM Alpine:3\n",
        "INVALID_REFERENCE",
        /^Dockerfile:1: invalid reference/,
      ],
      [
        "a file over the size limit",
        "Dockerfile",
        `FROM a:1\n#${"x".repeat(FILE_LIMITS.maxBytes)}\n`,
        "FILE_TOO_LARGE",
        /^Dockerfile: larger than/,
      ],
    ])("refuses %s with one line naming the file and line", (_what, file, text, code, message) => {
      const err = failure(file, text);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain("\n");
    });
  });
});
