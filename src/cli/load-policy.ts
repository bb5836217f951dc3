/**
 * Where the policy comes from: `--policy FILE`, else `IMAGE_CHECK_POLICY`, else the built-in
 * default. The I/O half of src/policy/parse.ts: reads the file and the key files it names.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { PolicyError, parsePolicyJson } from "../policy/parse.js";
import { defaultPolicy, type Policy } from "../policy/schema.js";

/** Policy files are small; anything bigger is a mistake (a wrong path), not a policy. */
const MAX_POLICY_BYTES = 1024 * 1024;

/** Load the policy to use, with `source` saying where it came from (a path, or "built-in default"). */
export async function loadPolicy(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ policy: Policy; source: string }> {
  const given = path ?? (env.IMAGE_CHECK_POLICY?.trim() || undefined);
  if (!given) return { policy: defaultPolicy(), source: "built-in default" };
  const file = resolve(cwd, given);
  const text = await readText(file, "POLICY_NOT_FOUND", `policy file ${given}`);
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

async function readText(
  file: string,
  code: "POLICY_NOT_FOUND" | "KEY_NOT_FOUND",
  what: string,
): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : "cannot be read";
    throw new PolicyError(code, `${what} ${reason} (${file})`, { cause: err });
  }
  if (buf.byteLength > MAX_POLICY_BYTES)
    throw new PolicyError("INVALID_POLICY", `${what} is larger than ${MAX_POLICY_BYTES} bytes`);
  return buf.toString("utf8");
}
