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
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { builtInPolicyJson } from "./default-policy.mjs";

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
/**
 * The policy schema is written with zod/mini so that `check` loads only the zod it uses. But
 * esbuild puts each file whole into one chunk, and zod's core files are shared with the chained
 * API (`watch`, `audit`, the engine's mapping): `check` would still load all of core (~300 KB,
 * JSON Schema generation included). zod/mini and the English messages are therefore bundled from
 * a copy of their own (namespace `zod-mini`: same files, other module identity), which esbuild
 * tree-shakes to what its users need. Safe to have twice: zod keeps its configuration and registry
 * on globalThis and tells its types apart by trait, not by class identity.
 */
const privateZodMini = {
  name: "private-zod-mini",
  setup(b) {
    b.onResolve({ filter: /^zod\/(mini|v4\/locales\/en\.js)$/ }, (args) =>
      args.namespace === "file"
        ? { path: fileURLToPath(import.meta.resolve(args.path)), namespace: "zod-mini" }
        : undefined,
    );
    b.onResolve({ filter: /^\./, namespace: "zod-mini" }, (args) => ({
      path: resolve(args.resolveDir, args.path),
      namespace: "zod-mini",
    }));
    b.onLoad({ filter: /.*/, namespace: "zod-mini" }, (args) => ({
      // Only English here too (see onlyEnglishZodMessages), from this copy: a locale of the shared
      // copy would bring the shared core's files (kept for their side effects) onto check's path.
      contents: args.path.endsWith("/zod/v4/locales/index.js")
        ? 'export { default as en } from "./en.js";'
        : readFileSync(args.path, "utf8"),
      resolveDir: dirname(args.path),
      loader: "js",
    }));
  },
};

/** Gives a chunk a `require` (esbuild's __require helper and CommonJS code call it). One line. */
const REQUIRE_BANNER =
  'import { createRequire as __imageCheckRequire } from "node:module"; const require = __imageCheckRequire(import.meta.url);';

/**
 * esbuild puts the banner on every chunk, and createRequire cost ~1 ms per chunk at start-up (path
 * resolution for each of the ~40 chunks `check` loads) while only the chunk holding esbuild's
 * runtime helpers and CommonJS code use `require`. The banner is blanked in the others, keeping
 * the line so the source maps stay right. A chunk whose text names `require` anywhere (strings and
 * comments included) keeps it: a false match costs one createRequire, a miss cannot happen.
 */
function dropUnusedRequireBanners(dir) {
  for (const entry of readdirSync(dir, { recursive: true })) {
    if (!entry.endsWith(".js")) continue;
    const file = new URL(entry, dir);
    const text = readFileSync(file, "utf8");
    // The banner follows main.js's shebang line.
    const at = text.indexOf(`${REQUIRE_BANNER}\n`);
    if (at < 0 || at > text.indexOf("\n") + 1) throw new Error(`build: ${entry} lacks the require banner`);
    const rest = text.slice(0, at) + text.slice(at + REQUIRE_BANNER.length);
    if (!/\brequire\b/.test(rest)) writeFileSync(file, rest);
  }
}

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
  plugins: [privateZodMini, onlyEnglishZodMessages],
  // The built-in default policy, computed from the schema now, so check without a policy file
  // does not load zod at run time (src/cli/load-policy.ts).
  define: { IMAGE_CHECK_DEFAULT_POLICY_JSON: JSON.stringify(await builtInPolicyJson()) },
  logLevel: "warning",
  // CommonJS code in the bundle (yaml, @sigstore) may call require() for Node's own modules.
  banner: { js: REQUIRE_BANNER },
});
dropUnusedRequireBanners(outdir);
for (const bin of Object.values(pkg.bin)) chmodSync(new URL(bin, root), 0o755);
