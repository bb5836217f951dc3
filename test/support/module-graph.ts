// Which project modules and packages a command can load, following static and literal dynamic
// imports: how the tests prove that `inspect` and `audit` never load Bolt, drizzle or the store.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Every project module `entry` can load, and every package it names. */
export function moduleGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)"([^"]+)"/g)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) pending.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  return { files, packages };
}
