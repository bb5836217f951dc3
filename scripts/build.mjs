/**
 * `npm run build`: compile the program to dist/ and make the binary executable, so the file that
 * package.json's `bin` names can be run directly (`./dist/src/cli/main.js check REF`), not only
 * through the links npm makes.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], {
  stdio: "inherit",
});
for (const bin of Object.values(pkg.bin)) chmodSync(new URL(`../${bin}`, import.meta.url), 0o755);
