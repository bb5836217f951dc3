/**
 * Reading a policy file (../shared/CONTRACT.md, "The policy file"): YAML or JSON text in, a
 * validated Policy out, or one line that names the file, the path in it and what was expected.
 * Pure: the CLI reads the file (src/cli/load-policy.ts).
 */
import { parseDocument } from "yaml";
import type { z } from "zod";
import { CHECKS } from "../checks/types.js";
import { CodedError } from "../errors.js";
import { POLICY_DEFAULTS, type Policy, policySchema } from "./schema.js";

/** Why a policy could not be used. The CLI maps INVALID_POLICY to exit 64. */
export class PolicyError extends CodedError<"INVALID_POLICY" | "POLICY_NOT_FOUND" | "KEY_NOT_FOUND"> {}

/** Parse and validate policy text (YAML, or JSON, which is YAML). Throws PolicyError INVALID_POLICY with one line. */
export function parsePolicy(text: string, fileName: string): Policy {
  const doc = parseDocument(text, { uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : "syntax";
    const reason = yamlError.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new PolicyError("INVALID_POLICY", `${fileName}: ${where}: ${reason}`);
  }
  let input: unknown;
  try {
    // Aliases are resolved here (and capped by yaml's maxAliasCount against alias bombs).
    input = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new PolicyError("INVALID_POLICY", `${fileName}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new PolicyError(
      "INVALID_POLICY",
      `${fileName}: expected a mapping of policy fields at the top level, got ${kindOf(input)}`,
    );
  }
  const result = policySchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues;
    const more =
      issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
    throw new PolicyError("INVALID_POLICY", `${fileName}: ${describeIssue(issues[0]!, input)}${more}`);
  }
  return result.data;
}

/** `registries.allowPrivate[0]`, `checks.severity["tag.latst"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(seg))) out += out ? `.${String(seg)}` : String(seg);
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out || "(top level)";
}

/** One issue as `path: expected X, got Y`. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = formatPath(issue.path);
  const got = (p: readonly PropertyKey[]) => `, got ${show(valueAt(input, p))}`;
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0]!;
      const known = fieldsAt(issue.path);
      return `${formatPath([...issue.path, key])}: unknown field${known.length ? `; expected one of ${known.join(", ")}` : ""}`;
    }
    case "invalid_type":
      if (valueAt(input, issue.path) === undefined)
        return `${path}: expected ${article(issue.expected)}, but it is missing`;
      return `${path}: expected ${article(issue.expected)}${got(issue.path)}`;
    case "invalid_value":
      return `${path}: expected ${issue.values.length === 1 ? show(issue.values[0]) : `one of ${issue.values.map((v) => String(v)).join(", ")}`}${got(issue.path)}`;
    case "invalid_key": {
      const key = String(issue.path[issue.path.length - 1]);
      const inner = issue.issues[0]?.message ?? "a valid key";
      return `${path}: expected ${inner}, got ${JSON.stringify(key)}`;
    }
    case "too_small":
      if (issue.origin === "string") return `${path}: expected a non-empty string${got(issue.path)}`;
      if (issue.origin === "number")
        return `${path}: expected a number ${issue.inclusive ? "of at least" : "greater than"} ${issue.minimum}${got(issue.path)}`;
      return `${path}: expected at least ${issue.minimum} item(s)${got(issue.path)}`;
    case "invalid_format":
      if (issue.format === "url")
        return `${path}: expected a URL such as https://notary.example.com${got(issue.path)}`;
      return `${path}: expected ${issue.message}${got(issue.path)}`;
    default:
      return `${path}: expected ${issue.message}${issue.code === "custom" && typeof valueAt(input, issue.path) !== "object" ? got(issue.path) : ""}`;
  }
}

/** The fields the schema allows at an object path (for "unknown field; expected one of ..."). */
function fieldsAt(path: readonly PropertyKey[]): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions, which are untyped here.
  let node: any = policySchema;
  const unwrap = () => {
    while (
      node?._zod?.def &&
      ["default", "prefault", "optional", "nullable", "pipe"].includes(node._zod.def.type)
    )
      node = node._zod.def.innerType ?? node._zod.def.in;
  };
  unwrap();
  for (const seg of path) {
    const def = node?._zod?.def;
    if (!def) return [];
    node = typeof seg === "number" ? def.element : def.shape?.[seg as string];
    unwrap();
  }
  const shape = node?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return typeof v === "string" ? "a string" : `a ${typeof v}`;
}

/** A value for an error line: short, one line. */
function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v !== null && typeof v === "object") return kindOf(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}..."` : s;
}

function article(type: string): string {
  if (type === "array") return "a list";
  if (type === "object") return "a mapping";
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * The built-in default policy as commented YAML: what `image-check policy --print-default` prints.
 * Parsing it gives exactly `defaultPolicy()` (a test holds this).
 */
export function defaultPolicyText(): string {
  const d = POLICY_DEFAULTS;
  const ids = Object.entries(CHECKS).map(([id, c]) => `  #   ${id.padEnd(32)} ${c.severity}`);
  return `# image-check policy (YAML or JSON). Every field is optional: what is left out takes the value
# shown here, which is the built-in default. Validate a file with: image-check policy --check FILE
version: 1

# The platform picked from a multi-arch index (os/arch or os/arch/variant).
platform: ${d.platform}

registries:
  # Publishers trusted by policy: globs over registry/repository. '*' matches within one path
  # segment, '**' across segments: ghcr.io/acme/** trusts everything under ghcr.io/acme/.
  # Short names are read as docker reads them (nginx -> docker.io/library/nginx).
  trusted:
${d.trusted.map((t) => `    - ${t}`).join("\n")}
  # Registry hosts (host[:port]) that may resolve to loopback, private or link-local addresses.
  # None by default: a reference must not be able to reach into your network.
  allowPrivate: []
  # Registry hosts that may be reached over plain http.
  allowInsecure: []

trust:
  # Trusted signing keys (cosign, Notation): a PEM inline, or a path relative to this file.
  #   - name: release
  #     pem: |
  #       -----BEGIN PUBLIC KEY-----
  #       ...
  #       -----END PUBLIC KEY-----
  #   - name: other
  #     path: ./keys/other.pub
  keys: []
  # Trusted Sigstore keyless identities; a subject wrapped in ^...$ is a regular expression.
  #   - issuer: https://token.actions.githubusercontent.com
  #     subject: ^https://github\\.com/acme/.*$
  keyless: []
  # A Sigstore trusted_root.json; null uses the one shipped with image-check.
  trustedRoot: null
  # Legacy Docker Content Trust: [{ registry: host, server: https://notary.example.com,
  # rootKeyId: <64 hex digits> }]. A signature counts as verified only when its root key is pinned:
  # by rootKeyId (the key id root.json lists under roles.root.keyids), or by the root
  # certificate's public key in keys above; otherwise the root is trusted on first use only.
  notary: []

checks:
  # Change a check's severity by id (info, low, medium, high, critical), or turn checks off.
  # check.incomplete can be lowered or disabled, but a check that could not finish is never a
  # pass: it still makes the verdict at least review, and no exception waives it.
  # The checks and their default severities:
${ids.join("\n")}
  severity: {}
  disabled: []

verdict:
  # review when any finding is at or above reviewAt; block at or above blockAt.
  reviewAt: ${d.reviewAt}
  blockAt: ${d.blockAt}

# provenance.stale: an image created longer ago than this.
maxAgeDays: ${d.maxAgeDays}
# config.large-image: compressed size above this many MB (10^6 bytes).
maxSizeMB: ${d.maxSizeMB}

approvals:
  # An approval binds to a digest and lapses after this many days.
  expireDays: ${d.expireDays}
  # A pass verdict is approved without asking IT.
  autoApprovePass: ${d.autoApprovePass}
  # A report for the same digest and policy is reused for this many minutes.
  reuseReportMinutes: ${d.reuseReportMinutes}

# Waive one check for matching images until a date (inclusive, UTC). The image is a glob over
# registry/repository:tag (or @digest). Waived findings stay in the report, marked
# "waived until ...", and do not count toward the verdict.
#   - check: config.root-user
#     image: docker.io/library/nginx:*
#     reason: nginx drops privileges after binding its port
#     expires: 2027-03-31
exceptions: []

watch:
  # serve (and image-check watch) re-checks approved digests whose last check is older than this;
  # 0 turns re-checks off.
  intervalHours: ${d.watchIntervalHours}
  # A re-check whose new findings reach this severity revokes the approval and asks IT again.
  revokeAt: ${d.revokeAt}
  # With IMAGE_CHECK_AUDIT_ENGINE naming a DOCKER_HOST, serve lists that engine's containers this
  # often and posts to the IT channel when some run an image without a standing approval; 0: off.
  auditIntervalMinutes: ${d.auditIntervalMinutes}

limits:
  # One check's overall deadline in seconds: waits, retries and Retry-After together.
  checkSeconds: ${d.checkSeconds}
  # Slack checks one user may have queued or running at once.
  perUserInFlight: ${d.perUserInFlight}
`;
}
