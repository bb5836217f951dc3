/** What package.json says about the program: its version, and where its documentation lives. */
import { readFile } from "node:fs/promises";

/** The fields of package.json the CLI shows. */
export interface PackageInfo {
  version: string;
  /** package.json `homepage` (the README online), when the package names one. */
  homepage?: string;
}

let cached: Promise<PackageInfo> | undefined;

/**
 * package.json of image-check, found by walking up from this module: it sits two folders up from
 * src/cli (tsx) and from dist/cli (the bundle).
 */
export function packageInfo(): Promise<PackageInfo> {
  cached ??= (async () => {
    for (let dir = new URL("./", import.meta.url); dir.pathname !== "/"; dir = new URL("../", dir)) {
      try {
        const pkg = JSON.parse(await readFile(new URL("package.json", dir), "utf8")) as {
          name?: string;
          version?: string;
          homepage?: string;
        };
        if (pkg.name === "image-check" && pkg.version)
          return {
            version: pkg.version,
            ...(typeof pkg.homepage === "string" && /^https:\/\//.test(pkg.homepage)
              ? { homepage: pkg.homepage }
              : {}),
          };
      } catch {
        // Not here: keep walking up.
      }
    }
    return { version: "unknown" };
  })();
  return cached;
}
