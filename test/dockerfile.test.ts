import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isRootUser } from "../src/checks/config.js";
import { isDescriptiveTag } from "../src/checks/tag.js";
import { parseReference } from "../src/reference/parse.js";

/** The bot's own image must pass the checks it runs on everyone else's. */
describe("the bot's Dockerfile", () => {
  const text = readFileSync("Dockerfile", "utf8");
  const lines = text.split("\n").filter((l) => !l.startsWith("#"));
  const base = /^ARG NODE_BASE=(\S+)$/m.exec(text)?.[1];

  it("pins its base by digest under a descriptive tag", () => {
    expect(base).toBeDefined();
    const ref = parseReference(base!);
    expect(ref.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ref.tag && isDescriptiveTag(ref.tag)).toBe(true);
    expect(
      lines.filter((l) => l.startsWith("FROM ")).every((l) => /^FROM (\$\{NODE_BASE\}|deps) AS /.test(l)),
    ).toBe(true);
  });

  it("runs as a non-root user, with a healthcheck and its data on a volume", () => {
    const user = lines
      .filter((l) => l.startsWith("USER "))
      .at(-1)
      ?.slice(5)
      .trim();
    expect(user).toBeDefined();
    expect(isRootUser(user!)).toBe(false);
    expect(lines.some((l) => l.startsWith("HEALTHCHECK ") && l.includes("--interval"))).toBe(true);
    expect(text).toContain("/healthz");
    expect(lines.some((l) => l.startsWith("VOLUME ") && l.includes("/data"))).toBe(true);
  });

  it("labels its source, revision and version, and ships only production dependencies", () => {
    for (const label of ["source", "revision", "version"]) {
      expect(text).toContain(`org.opencontainers.image.${label}=`);
    }
    expect(text).toContain("npm ci --omit=dev");
    // The runtime stage copies node_modules from the production-only stage, not the build stage.
    expect(text).toMatch(/COPY --from=deps [^\n]*node_modules/);
  });
});
