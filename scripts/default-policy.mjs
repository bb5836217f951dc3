/**
 * The built-in default policy as JSON, computed from the policy schema itself (src/policy/schema.ts
 * bundled and run here): `npm run build` puts it into the CLI, so that `check` without a policy file
 * never loads zod. Run alone (`node scripts/default-policy.mjs`) it prints the JSON; a test holds it
 * equal to `defaultPolicy()`.
 */
import { deepStrictEqual } from "node:assert";
import { build } from "esbuild";

const root = new URL("../", import.meta.url);

/** The schema's default policy, as JSON text. Throws if it does not survive JSON unchanged. */
export async function builtInPolicyJson() {
  const out = await build({
    absWorkingDir: root.pathname,
    entryPoints: ["src/policy/schema.ts"],
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    logLevel: "warning",
  });
  const code = Buffer.from(out.outputFiles[0].text).toString("base64");
  const { defaultPolicy } = await import(`data:text/javascript;base64,${code}`);
  const policy = defaultPolicy();
  const json = JSON.stringify(policy);
  // A Date, an undefined field or a non-plain object would come back different from JSON.parse.
  deepStrictEqual(JSON.parse(json), policy);
  return json;
}

if (import.meta.url === new URL(process.argv[1], "file://").href) {
  process.stdout.write(`${await builtInPolicyJson()}\n`);
}
