/**
 * `npm run build`: bundle the program with esbuild into dist/cli/ (the `bin` of package.json) and
 * make the entry executable.
 *
 * Why a bundle: run from tsc's output, `check` spent ~90% of its time loading modules (Node's
 * resolution and compilation of ~140 files of yaml, zod and @sigstore) before a ~35 ms check. One
 * entry file with code-split chunks keeps each command's lazy `import()` lazy (a chunk per
 * command; sigstore and yaml only when used) while resolving nothing at run time.
 *
 * Left outside the bundle, loaded from node_modules: better-sqlite3 (a native addon), dockerode
 * (optional native dependencies of ssh2) and @slack/bolt (serve only; bundling its CommonJS
 * dependency tree gains nothing for a long-running process).
 *
 * Type checking is `npm run lint` (tsc --noEmit); esbuild only strips types.
 */
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const root = new URL("../", import.meta.url);

/**
 * zod re-exports every message locale (`z.locales`, ~45 files, ~500 KB) from the namespace the
 * schemas are built with, so no bundler can leave them out, and each start-up parsed them. This
 * program never calls z.locales: only English (zod's default, which it configures itself) is kept.
 */
const onlyEnglishZodMessages = {
  name: "only-english-zod-messages",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes("/node_modules/zod/")
        ? { path: "zod-locales", namespace: "zod-locales" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: root.pathname,
      loader: "js",
    }));
  },
};
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const outdir = new URL("dist/cli/", root);

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root.pathname,
  entryPoints: ["src/cli/main.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  splitting: true,
  outdir: outdir.pathname,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  external: ["better-sqlite3", "dockerode", "@slack/bolt"],
  sourcemap: true,
  plugins: [onlyEnglishZodMessages],
  logLevel: "warning",
  // CommonJS code in the bundle (yaml, @sigstore) may call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as __imageCheckRequire } from "node:module"; const require = __imageCheckRequire(import.meta.url);',
  },
});
for (const bin of Object.values(pkg.bin)) chmodSync(new URL(bin, root), 0o755);
