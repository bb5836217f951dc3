import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isRootUser } from "../src/checks/config.js";
import { isDescriptiveTag } from "../src/checks/tag.js";
import { referencesIn } from "../src/files/index.js";
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
    // Every image the Dockerfile pulls (as `check --file` reads it: stage names skipped) is that base.
    const images = referencesIn("Dockerfile", text).references.map((r) => r.reference);
    expect(images.length).toBeGreaterThan(0);
    expect(new Set(images)).toEqual(new Set([base]));
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

  it("labels its revision and version, and its source only when SOURCE is given (no guessed URL)", () => {
    for (const label of ["source", "revision", "version"]) {
      expect(text).toContain(`org.opencontainers.image.${label}=`);
    }
    // SOURCE is declared without a default, and the stage that sets the label is picked only when it is set.
    expect(lines.filter((l) => l.startsWith("ARG SOURCE"))).toEqual(["ARG SOURCE", "ARG SOURCE"]);
    expect(text).not.toMatch(/org\.opencontainers\.image\.source="https?:/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a template.
    expect(lines.filter((l) => l.trim() !== "").at(-1)).toBe("FROM source-${SOURCE:+given} AS final");
    expect(lines).toContain("FROM runtime AS source-");
  });

  it("compiles better-sqlite3 once and ships no dev dependency and no build leftovers", () => {
    // One install of every dependency; the runtime gets them pruned to production, from that stage.
    expect(text.match(/npm ci\b/g)).toHaveLength(1);
    expect(text).toContain("npm prune --omit=dev");
    expect(text).toMatch(/COPY --from=build [^\n]*\/app\/node_modules/);
    expect(text).toMatch(/rm -rf build deps src/);
    // tsx (and with it esbuild) is a dev dependency, so the prune removes it.
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    for (const dev of ["tsx", "esbuild", "typescript", "vitest"]) {
      expect(pkg.dependencies[dev]).toBeUndefined();
      expect(pkg.devDependencies[dev]).toBeDefined();
    }
  });

  it("runs the built program: docker run IMAGE check REF checks, no arguments serves", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> };
    expect(lines).toContain(`ENTRYPOINT ["node", "${pkg.bin["image-check"]}"]`);
    expect(lines).toContain('CMD ["serve"]');
  });
});

describe("npm start", () => {
  it("runs the built program after building it, not tsx", () => {
    const { scripts } = JSON.parse(readFileSync("package.json", "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(scripts.start).not.toContain("tsx");
    expect(scripts.start).toMatch(/^node dist\//);
    expect(scripts.prestart).toBe("npm run build");
  });
});
