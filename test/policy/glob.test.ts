import { describe, expect, it } from "vitest";
import { globMatch, matchingGlob, normalizeImagePattern } from "../../src/policy/glob.js";

describe("globMatch", () => {
  it.each([
    ["docker.io/library/*", "docker.io/library/nginx", true],
    ["docker.io/library/*", "docker.io/library/x/y", false],
    ["ghcr.io/acme/**", "ghcr.io/acme/team/app", true],
    ["docker.io/library/nginx:*", "docker.io/library/nginx:1.27", true],
    ["docker.io/library/nginx:*", "docker.io/library/nginxx:1.27", false],
    ["registry.example.com/app:1.?", "registry.example.com/app:1.2", true],
    ["a.b/c+d", "a.b/c+d", true],
    ["a.b/c", "aXb/c", false],
  ])("%s matches %s: %s", (glob, text, expected) => {
    expect(globMatch(glob, text)).toBe(expected);
  });
});

describe("normalizeImagePattern", () => {
  it.each([
    ["nginx:*", "docker.io/library/nginx:*"],
    ["acme/app", "docker.io/acme/app"],
    ["index.docker.io/acme/app", "docker.io/acme/app"],
    ["localhost/app", "localhost/app"],
    ["127.0.0.1:5000/app", "127.0.0.1:5000/app"],
    ["ghcr.io/acme/*", "ghcr.io/acme/*"],
    ["*/library/*", "*/library/*"],
    ["0x7f.1:5000/app", "127.0.0.1:5000/app"],
    ["registry-1.docker.io/acme/app", "docker.io/acme/app"],
    ["GHCR.IO:443/acme/*", "ghcr.io/acme/*"],
  ])("reads %s as %s", (pattern, expected) => {
    expect(normalizeImagePattern(pattern)).toBe(expected);
  });
});

describe("matchingGlob", () => {
  it("matches a bare reference as :latest", () => {
    expect(matchingGlob(["nginx:latest"], { registry: "docker.io", repository: "library/nginx" })).toBe(
      "nginx:latest",
    );
  });
  it("matches a digest reference by its digest", () => {
    const d = `sha256:${"a".repeat(64)}`;
    expect(
      matchingGlob([`ghcr.io/acme/app@${d}`], { registry: "ghcr.io", repository: "acme/app", digest: d }),
    ).toBeDefined();
  });
  describe("when the registry is spelled differently in the glob and in the image", () => {
    const image = { registry: "127.1:5000", repository: "test/plain", tag: "1.0" };
    it.each(["127.0.0.1:5000/test/*", "2130706433:5000/test/*", "[::ffff:127.0.0.1]:5000/test/plain:1.0"])(
      "matches %s",
      (glob) => {
        expect(matchingGlob([glob], image)).toBe(glob);
      },
    );
    it("keeps other registries and ports apart", () => {
      expect(matchingGlob(["127.0.0.1:5001/test/*", "127.0.0.2:5000/test/*"], image)).toBeUndefined();
    });
    it("matches Docker Hub under any of its names", () => {
      expect(
        matchingGlob(["docker.io/library/*"], {
          registry: "registry.hub.docker.com",
          repository: "library/nginx",
        }),
      ).toBe("docker.io/library/*");
    });
  });
});
