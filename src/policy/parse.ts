/**
 * Reading a policy file (../shared/CONTRACT.md, "The policy file"): YAML or JSON text in, a
 * validated Policy out, or one line that names the file, the path in it and what was expected.
 * YAML text is read in ./yaml.ts (parsePolicy), so that the YAML parser loads only for YAML.
 * Pure: the CLI reads the file (src/cli/load-policy.ts).
 */
import type { z } from "zod";
import { CHECKS } from "../checks/types.js";
import { PolicyError } from "./errors.js";
import { POLICY_DEFAULTS, type Policy, policySchema } from "./schema.js";

export { PolicyError };

/**
 * Parse and validate a JSON policy, or undefined when `text` is not JSON (then it is YAML: see
 * ./yaml.ts). JSON is read without the YAML parser, so a JSON policy never loads it. Throws
 * PolicyError INVALID_POLICY with one line.
 */
export function parsePolicyJson(text: string, fileName: string): Policy | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    // Not valid JSON: YAML (a superset) reads it, and names the line and column of a mistake.
    return undefined;
  }
  const duplicate = duplicateKey(text);
  // The YAML reading refuses duplicate keys; JSON.parse would silently keep the last one.
  if (duplicate !== undefined)
    throw new PolicyError(
      "INVALID_POLICY",
      `${fileName}: the key ${JSON.stringify(duplicate)} appears twice in one object`,
    );
  return parsePolicyInput(input, fileName);
}

/**
 * The first key that appears twice in one object of `json` (text JSON.parse accepted), if any.
 * One pass: strings are skipped whole, and each open object keeps the set of its keys.
 */
function duplicateKey(json: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === "{") stack.push(new Set());
    else if (c === "[") stack.push(null);
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      const raw = json.slice(i, end + 1);
      i = end;
      let next = end + 1;
      while (/\s/.test(json[next] ?? "")) next++;
      const keys = stack.at(-1);
      if (json[next] === ":" && keys) {
        const key = JSON.parse(raw) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
    }
  }
  return undefined;
}

/** Validate policy input already read from YAML or JSON. Throws PolicyError INVALID_POLICY with one line. */
export function parsePolicyInput(input: unknown, fileName: string): Policy {
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
# Or one vulnerability, by id or any of its aliases:
#   - vulnerability: CVE-2024-1234
#     image: docker.io/library/python:*
#     reason: the affected parser is never given untrusted input
#     expires: 2027-01-31
exceptions: []

vulnerabilities:
  # Where vulnerability data may come from, tried in this order; never the image's layers.
  # attestation: vulnerability scan attestations (cosign vuln, in-toto vulns); vex: OpenVEX;
  # sbom: the image's SBOM attestation matched by the scanner below. [] turns it all off.
  sources: [${d.vulnSources.join(", ")}]
  scanner:
    # What matches an SBOM's packages: osv, or none.
    kind: ${d.vulnScannerKind}
    # The OSV API (POST /v1/querybatch, GET /v1/vulns/{id}); it passes the same address guard
    # as registries.
    url: ${d.vulnScannerUrl}
  # vuln.critical and vuln.high also count vulnerabilities without a fixed version.
  includeUnfixed: ${d.includeUnfixed}
  # vuln.stale-data: the newest data is older than this many days.
  maxAgeDays: ${d.vulnMaxAgeDays}
  # Unsigned data may add vulnerabilities but never clear them; true lets it count as complete.
  trustUnsigned: ${d.trustUnsigned}

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
