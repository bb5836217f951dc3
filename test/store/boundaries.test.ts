import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Every TypeScript file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("the store's boundary (STYLE.md: driver types stay inside src/store)", () => {
  it("is the only place that imports drizzle-orm or better-sqlite3", () => {
    const importsDriver = /\bfrom\s+["'](?:drizzle-orm|better-sqlite3)(?:\/[^"']*)?["']/;
    const outside = sources(SRC)
      .map((file) => relative(SRC, file))
      .filter((file) => !file.startsWith("store/"))
      .filter((file) => importsDriver.test(readFileSync(join(SRC, file), "utf8")));
    expect(outside).toEqual([]);
  });
});

describe("the pure folders (biome.json's override keeps the same list)", () => {
  const PURE = ["checks/", "trust/", "policy/", "reference/", "files/", "vuln/"];
  const IO =
    /\bfrom\s+["'](?:node:)?(?:fs|fs\/promises|http|https|net|dns|dns\/promises|child_process|tls|dgram)["']/;
  const LAYERS = /\bfrom\s+["'][./]*\/(?:registry|engine|store|slack|worker|cli)\//;

  it("import no I/O module and nothing from the I/O layers", () => {
    const impure = sources(SRC)
      .map((file) => relative(SRC, file))
      .filter((file) => PURE.some((dir) => file.startsWith(dir)))
      .filter((file) => {
        const text = readFileSync(join(SRC, file), "utf8");
        return IO.test(text) || LAYERS.test(text);
      });
    expect(impure).toEqual([]);
  });

  it("names every pure folder in the biome import rule", () => {
    const biome = readFileSync(fileURLToPath(new URL("../../biome.json", import.meta.url)), "utf8");
    for (const folder of PURE) expect(biome).toContain(`"src/${folder}**"`);
  });
});
