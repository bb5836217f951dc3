import { describe, expect, it } from "vitest";
import { isCoded } from "../../src/errors.js";
import {
  effectiveTag,
  familiarName,
  formatReference,
  InvalidReferenceError,
  parseReference,
  pinnedReference,
  repositoryPath,
} from "../../src/reference/parse.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  describe("when the reference is valid", () => {
    const good: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
      ["nginx", { registry: "docker.io", repository: "library/nginx" }],
      ["nginx:1.27", { registry: "docker.io", repository: "library/nginx", tag: "1.27" }],
      ["library/nginx", { registry: "docker.io", repository: "library/nginx" }],
      ["docker.io/nginx", { registry: "docker.io", repository: "library/nginx" }],
      ["index.docker.io/nginx", { registry: "docker.io", repository: "library/nginx" }],
      [
        "registry-1.docker.io/bitnami/redis:7",
        { registry: "docker.io", repository: "bitnami/redis", tag: "7" },
      ],
      ["bitnami/redis", { registry: "docker.io", repository: "bitnami/redis" }],
      ["ghcr.io/acme/app:v1.2.3", { registry: "ghcr.io", repository: "acme/app", tag: "v1.2.3" }],
      ["GHCR.io/acme/app", { registry: "ghcr.io", repository: "acme/app" }],
      ["localhost/app", { registry: "localhost", repository: "app" }],
      ["localhost:5000/app:dev", { registry: "localhost:5000", repository: "app", tag: "dev" }],
      ["127.0.0.1:5000/a/b/c", { registry: "127.0.0.1:5000", repository: "a/b/c" }],
      ["[::1]:5000/app:1", { registry: "[::1]:5000", repository: "app", tag: "1" }],
      ["[fe80::1]/app", { registry: "[fe80::1]", repository: "app" }],
      ["localhost:5000", { registry: "docker.io", repository: "library/localhost", tag: "5000" }],
      [`app@${D}`, { registry: "docker.io", repository: "library/app", digest: D }],
      [`r.io/app:1.0@${D}`, { registry: "r.io", repository: "app", tag: "1.0", digest: D }],
      [
        `r.io/app@sha512:${"b".repeat(128)}`,
        { registry: "r.io", repository: "app", digest: `sha512:${"b".repeat(128)}` },
      ],
      ["a.b-c.d/x__y.z-w---v:_T.a-g", { registry: "a.b-c.d", repository: "x__y.z-w---v", tag: "_T.a-g" }],
      [`r.io/app:${"t".repeat(128)}`, { registry: "r.io", repository: "app", tag: "t".repeat(128) }],
      [`r.io/${"a".repeat(249)}`, { registry: "r.io", repository: "a".repeat(249) }],
    ];
    it.each(good)("parses %s", (input, expected) => {
      const ref = parseReference(input);
      expect({ ...ref, original: undefined }).toEqual({ ...expected, original: undefined });
      expect(ref.original).toBe(input);
    });
  });

  describe("when the reference is invalid", () => {
    const bad: [string, string][] = [
      ["", "EMPTY"],
      ["   ", "EMPTY"],
      ["UPPER/case", "UPPERCASE"],
      ["Nginx", "UPPERCASE"],
      ["r.io/Acme/app", "UPPERCASE"],
      ["a::b", "INVALID_FORMAT"],
      ["a".repeat(300), "TOO_LONG"],
      [`r.io/${"a".repeat(251)}`, "TOO_LONG"],
      ["name@sha256:short", "INVALID_DIGEST"],
      [`name@sha256:${"A".repeat(64)}`, "INVALID_DIGEST"],
      [`name@md5:${"a".repeat(32)}`, "INVALID_DIGEST"],
      ["name@", "INVALID_DIGEST"],
      [`name@${D}@${D}`, "INVALID_FORMAT"],
      ["name:", "INVALID_TAG"],
      ["name:-bad", "INVALID_TAG"],
      [`name:${"t".repeat(129)}`, "INVALID_TAG"],
      ["r.io//app", "INVALID_FORMAT"],
      ["r.io/app/", "INVALID_FORMAT"],
      ["r.io/", "INVALID_FORMAT"],
      [":tag", "INVALID_FORMAT"],
      ["a b", "INVALID_FORMAT"],
      ["app_/x", "INVALID_FORMAT"],
      ["-bad.io/app", "INVALID_REGISTRY"],
      ["r.io:99999/app", "INVALID_REGISTRY"],
      ["r.io:port/app", "INVALID_REGISTRY"],
      ["[::1/app", "INVALID_REGISTRY"],
      ["a".repeat(64), "INVALID_FORMAT"],
    ];
    it.each(bad)("refuses %j with %s and a one-line message", (input, code) => {
      let caught: unknown;
      try {
        parseReference(input);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidReferenceError);
      expect(isCoded(caught, code)).toBe(true);
      const message = (caught as Error).message;
      expect(message).not.toContain("\n");
      expect(message.startsWith("invalid reference ")).toBe(true);
    });
  });
});

describe("reference helpers", () => {
  it("formats the fully qualified name, tag and digest", () => {
    expect(formatReference(parseReference(`nginx:1@${D}`))).toBe(`docker.io/library/nginx:1@${D}`);
    expect(repositoryPath(parseReference("ghcr.io/a/b:1"))).toBe("ghcr.io/a/b");
  });

  it("uses latest only when neither a tag nor a digest is given", () => {
    expect(effectiveTag(parseReference("nginx"))).toBe("latest");
    expect(effectiveTag(parseReference("nginx:1"))).toBe("1");
    expect(effectiveTag(parseReference(`nginx@${D}`))).toBeUndefined();
  });

  it("pins a reference to a digest and keeps the tag for readers", () => {
    expect(pinnedReference(parseReference("nginx"), D)).toBe(`docker.io/library/nginx:latest@${D}`);
    expect(pinnedReference(parseReference(`r.io/x@${D}`), D)).toBe(`r.io/x@${D}`);
  });

  it("gives Docker's familiar short name", () => {
    expect(familiarName(parseReference("docker.io/library/nginx:1"))).toBe("nginx:1");
    expect(familiarName(parseReference("bitnami/redis"))).toBe("bitnami/redis");
    expect(familiarName(parseReference("r.io/x:2"))).toBe("r.io/x:2");
  });
});
