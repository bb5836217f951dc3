// Crafted reports, requests and decisions for the Slack renderers and for the app's injected
// CheckRunner. The hostile strings are the ones the acceptance criteria name.
import type { Report, Verdict } from "../../src/checks/report.js";
import type { Finding } from "../../src/checks/types.js";
import type { DecisionRecord, RequestRecord } from "../../src/store/api.js";

/** Control sequences that must reach Slack inert. */
export const HOSTILE = "<!channel> <@U123> <https://evil.example|docs> <!here> <!subteam^S1> & ```x```";

/** A fixed digest (64 hex) per name, so tests can tell images apart. */
export function digestOf(name: string): string {
  let hex = "";
  for (let i = 0; hex.length < 64; i++)
    hex += ((name.charCodeAt(i % name.length) * 31 + i) % 16).toString(16);
  return `sha256:${hex}`;
}

function finding(id: Finding["id"], severity: Finding["severity"], title: string, detail = ""): Finding {
  return { id, category: id.split(".")[0] as Finding["category"], severity, title, detail, evidence: {} };
}

/** A report for `reference` (`repo:tag` on the given registry) with the given verdict. */
export function makeReport(
  reference: string,
  verdict: Verdict,
  overrides: { labels?: Record<string, string>; findings?: Finding[]; digest?: string | null } = {},
): Report {
  const [name, tag = "latest"] = reference.split(":") as [string, string?];
  const slash = name.indexOf("/");
  const hasRegistry = slash > 0 && /[.:]/.test(name.slice(0, slash));
  const registry = hasRegistry ? name.slice(0, slash) : "docker.io";
  const repository = hasRegistry ? name.slice(slash + 1) : name.includes("/") ? name : `library/${name}`;
  const digest = overrides.digest === null ? undefined : (overrides.digest ?? digestOf(reference));
  const findings =
    overrides.findings ??
    (verdict === "pass"
      ? [
          finding("provenance.publisher", "info", "official image"),
          finding("tag.not-pinned", "info", "not pinned"),
        ]
      : verdict === "review"
        ? [
            finding("config.root-user", "medium", "runs as root", "expected a non-root USER, got root"),
            finding("provenance.no-source", "medium", "no source link"),
            finding("tag.not-pinned", "info", "not pinned"),
          ]
        : [
            finding(
              "trust.signature-invalid",
              "critical",
              "signature does not verify",
              "cosign signature over another digest",
            ),
          ]);
  return {
    schema: "image-check/report@1",
    reference,
    image: {
      registry,
      repository,
      tag,
      digest,
      platform: "linux/amd64",
      manifestDigest: digest,
      configDigest: digest ? digestOf(`${reference}#config`) : undefined,
      pinned: digest ? `${registry}/${repository}:${tag}@${digest}` : undefined,
    },
    verdict,
    findings,
    facts: {
      created: "2026-10-01T00:00:00Z",
      user: "",
      labels: overrides.labels ?? {},
      history: [],
      signatures: [],
      attestations: [],
    },
    checkedAt: "2026-11-30T12:00:00.000Z",
    durationMs: 42,
    run: digest
      ? {
          dockerRun: `docker run --rm --read-only --cap-drop=ALL --security-opt=no-new-privileges --user 65534:65534 ${registry}/${repository}@${digest}`,
          compose: "",
          notes: [],
        }
      : undefined,
    policyVersion: "p-1a2b3c",
  };
}

/** A report of a check that could not reach the registry (never a pass). */
export function failedReport(
  reference: string,
  code = "REGISTRY_UNREACHABLE",
  message = "connect ECONNREFUSED 127.0.0.1:1",
): Report {
  return makeReport(reference, "review", {
    digest: null,
    findings: [
      {
        ...finding(
          "check.incomplete",
          "high",
          `The image could not be checked: ${code}`,
          `gathering failed with ${code} (${message})`,
        ),
        evidence: { code, message },
      },
    ],
  });
}

/** A request row as the store returns it. */
export function makeRequest(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: "req_ABCDEFGHIJKLMNOP",
    reference: "nginx:1.27",
    repository: "docker.io/library/nginx",
    tag: "1.27",
    digest: digestOf("nginx:1.27"),
    requestedBy: "UREQUESTER",
    source: "slack",
    channel: "C0USER",
    reason: "serve the docs",
    status: "pending",
    verdict: "review",
    reportId: "rep_1",
    itMessage: null,
    responseUrl: null,
    createdAt: "2026-11-30T12:00:00.000Z",
    updatedAt: "2026-11-30T12:00:00.000Z",
    error: null,
    decisionId: null,
    ...overrides,
  };
}

/** A decision row as the store returns it. */
export function makeDecision(overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: "dec_1",
    requestId: "req_ABCDEFGHIJKLMNOP",
    repository: "docker.io/library/nginx",
    reference: "nginx:1.27",
    digest: digestOf("nginx:1.27"),
    decision: "approved",
    status: "approved",
    decidedBy: "UAPPROVER",
    requestedBy: "UREQUESTER",
    reason: "serve the docs",
    decidedAt: "2026-11-30T13:00:00.000Z",
    expiresAt: "2027-02-28T13:00:00.000Z",
    ...overrides,
  };
}
