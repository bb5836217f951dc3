/**
 * Where the policy comes from: `--policy FILE`, else `IMAGE_CHECK_POLICY`, else the built-in
 * default. The I/O half of src/policy/parse.ts: reads the file and the key files it names.
 */
import { dirname, resolve } from "node:path";
import { isCoded } from "../errors.js";
import { PolicyError } from "../policy/errors.js";
import type { Policy } from "../policy/schema.js";
import { readRegularFile } from "../read-file.js";

/**
 * The built-in default policy as JSON, put here by the bundler (scripts/build.mjs computes it from
 * the schema at build time): without a policy file, `check` then never loads zod or builds the
 * schema, a tenth of its start-up. Unset when run from source, where the schema computes it.
 */
declare const IMAGE_CHECK_DEFAULT_POLICY_JSON: string | undefined;

/** The built-in default policy: the bundler's copy when there is one, else the schema's. */
export async function builtInPolicy(): Promise<Policy> {
  if (typeof IMAGE_CHECK_DEFAULT_POLICY_JSON === "string") return JSON.parse(IMAGE_CHECK_DEFAULT_POLICY_JSON);
  return (await import("../policy/schema.js")).defaultPolicy();
}

/** Policy files are small (the commented default is ~5 KiB); anything bigger is a wrong path, not a policy. */
const MAX_POLICY_BYTES = 1024 * 1024;

/** A PEM public key is well under 4 KiB; 64 KiB leaves room for a long comment or a chain. */
const MAX_KEY_BYTES = 64 * 1024;

/** Load the policy to use, with `source` saying where it came from (a path, or "built-in default"). */
export async function loadPolicy(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ policy: Policy; source: string }> {
  const given = path ?? (env.IMAGE_CHECK_POLICY?.trim() || undefined);
  if (!given) return { policy: await builtInPolicy(), source: "built-in default" };
  const file = resolve(cwd, given);
  const [text, { parsePolicyJson }] = await Promise.all([
    readText(file, MAX_POLICY_BYTES, "POLICY_NOT_FOUND", `policy file ${given}`),
    import("../policy/parse.js"),
  ]);
  // JSON is read without the YAML parser; anything else (or JSON with a mistake) by it.
  const policy = parsePolicyJson(text, given) ?? (await import("../policy/yaml.js")).parsePolicy(text, given);
  return { policy: await resolveKeyFiles(policy, dirname(file), given), source: file };
}

/** Read each `trust.keys[].path` (relative to the policy file) into `pem`. */
async function resolveKeyFiles(policy: Policy, baseDir: string, policyName: string): Promise<Policy> {
  const keys = await Promise.all(
    policy.trust.keys.map(async (k, i) => {
      if (k.pem !== undefined || k.path === undefined) return k;
      const pem = await readText(
        resolve(baseDir, k.path),
        MAX_KEY_BYTES,
        "KEY_NOT_FOUND",
        `${policyName}: trust.keys[${i}].path: key file ${k.path}`,
      );
      if (!pem.includes("-----BEGIN")) {
        throw new PolicyError(
          "INVALID_POLICY",
          `${policyName}: trust.keys[${i}].path: expected a PEM public key in ${k.path}`,
        );
      }
      return { ...k, pem };
    }),
  );
  return { ...policy, trust: { ...policy.trust, keys } };
}

/**
 * The text of a file the user named. A missing file keeps its own code (exit 3, as before); one that
 * is not a regular file, or too large, is a mistake in the policy (INVALID_POLICY, exit 64).
 */
async function readText(
  file: string,
  maxBytes: number,
  code: "POLICY_NOT_FOUND" | "KEY_NOT_FOUND",
  what: string,
): Promise<string> {
  try {
    return (await readRegularFile(file, maxBytes)).toString("utf8");
  } catch (err) {
    if (!isCoded(err)) throw err;
    const usage = err.code === "NOT_REGULAR" || err.code === "TOO_LARGE";
    // The resolved path in parentheses, unless `what` already ends with it (an absolute path).
    const where = what.endsWith(file) ? "" : ` (${file})`;
    throw new PolicyError(usage ? "INVALID_POLICY" : code, `${what} ${err.message}${where}`, {
      cause: err,
    });
  }
}
