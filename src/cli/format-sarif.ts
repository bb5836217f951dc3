/**
 * `check --format sarif`: one SARIF 2.1.0 log (https://docs.oasis-open.org/sarif/sarif/v2.1.0/),
 * one run, driver `image-check`, one rule per check id (its default severity in `properties`),
 * one result per finding at each file and line where the image is referenced. GitHub code
 * scanning reads `properties["security-severity"]` and tracks a result across commits by its
 * `partialFingerprints`, which name the check, the repository and the file, not the line or the
 * digest: moving a line or re-pinning the image keeps the same alert. Pure.
 */
import { createHash } from "node:crypto";
import { CHECKS, type Severity } from "../checks/types.js";
import { type Levels, type LocatedReport, levelOf } from "./format-github.js";
import { printableKeepingLines } from "./terminal.js";

/** What each check looks for, as a rule's help (the README's check table says the same). */
const RULE_HELP: Record<string, string> = {
  "tag.latest":
    "The reference has no tag and no digest, or the tag is latest: what runs can change without notice. Use a versioned tag pinned by digest.",
  "tag.not-descriptive":
    "The tag carries no version number (stable, alpine, lts). Use a tag that names a version.",
  "tag.not-pinned":
    "No digest in the reference. Pin it (image-check pin FILE) so the image cannot change under the tag.",
  "tag.moved": "The tag resolves to another digest than at its last check or decision here.",
  "tag.digest-conflict":
    "name:tag@digest where the tag now resolves elsewhere: a reviewer decides which one to keep.",
  "provenance.publisher":
    "Who publishes the image: official, verified publisher, sponsored OSS, trusted by policy, community, or unknown.",
  "provenance.untrusted-publisher":
    "The publisher is not official, verified, sponsored, or trusted by the policy.",
  "provenance.no-source":
    "No source link: no org.opencontainers.image.source label or annotation and no provenance attestation naming a repository.",
  "provenance.no-revision": "No source revision in labels, annotations or attestations.",
  "provenance.no-attestation": "No SLSA provenance attestation.",
  "provenance.stale": "The image was created longer ago than the policy's maxAgeDays.",
  "history.empty": "The image config has no build history to read.",
  "history.remote-script": "A build step pipes a download into a shell.",
  "history.remote-add": "ADD from an http(s) URL.",
  "history.insecure-fetch": "A build step downloads over plain http or turns certificate checks off.",
  "history.secret": "A build step carries a secret.",
  "history.sudo": "A build step uses sudo.",
  "history.world-writable": "A build step makes files world-writable (chmod 777 and the like).",
  "config.root-user": "The image runs as root.",
  "config.secret-env": "An environment variable holds a secret.",
  "config.ssh-port": "Port 22 is exposed.",
  "config.sensitive-volume": "A volume at /, /proc, /sys, /dev, /etc or the Docker socket.",
  "config.no-healthcheck": "No HEALTHCHECK.",
  "config.large-image": "The compressed size is above the policy's maxSizeMB.",
  "contents.runtimes": "Interpreters present in the image.",
  "trust.signed": "A signature verified against a trusted key or identity.",
  "trust.unsigned": "No signature of any supported kind was found.",
  "trust.untrusted-signer": "Signatures exist, but none verifies against a trusted key or identity.",
  "trust.signature-invalid": "A signature for this digest is present but broken.",
  "trust.digest-mismatch": "Content from the registry does not hash to the digest it was asked for.",
  "trust.no-sbom": "No SBOM attestation.",
  "check.incomplete": "The facts could not all be gathered; the detail has the error code.",
};

/** GitHub's security-severity scale (0-10) for each severity. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: "9.5",
  high: "8.0",
  medium: "5.5",
  low: "3.0",
  info: "0.0",
};

const SARIF_LEVEL = { block: "error", review: "warning", below: "note" } as const;

/** A SARIF log (only the parts written here). */
export type SarifLog = Record<string, unknown>;

/** Options of `renderSarif`. */
export interface SarifOptions extends Levels {
  /** The tool's version (package.json). */
  version: string;
  /** Where the check ids are documented (an absolute URL: the README's); each rule's helpUri. */
  helpUri?: string;
}

/** The SARIF log for `items`. */
export function renderSarif(items: LocatedReport[], opts: SarifOptions): SarifLog {
  const ids = new Set<string>(Object.keys(CHECKS));
  for (const { report } of items) for (const f of report.findings) ids.add(f.id);
  const ruleIds = [...ids];
  const severityOf = (id: string): Severity =>
    (CHECKS as Record<string, { severity: Severity } | undefined>)[id]?.severity ?? "info";
  const rules = ruleIds.map((id) => {
    const severity = severityOf(id);
    const help = RULE_HELP[id] ?? `The ${id} check of image-check.`;
    return {
      id,
      name: id,
      shortDescription: { text: `image-check ${id}` },
      fullDescription: { text: help },
      help: { text: help },
      ...(opts.helpUri ? { helpUri: opts.helpUri } : {}),
      defaultConfiguration: { level: SARIF_LEVEL[levelOf(severity, opts)] },
      properties: {
        "default-severity": severity,
        "security-severity": SECURITY_SEVERITY[severity],
        tags: ["security", "container-image", id.split(".")[0]],
      },
    };
  });

  const results: unknown[] = [];
  for (const { report, locations } of items) {
    const repository = `${report.image.registry}/${report.image.repository}`;
    for (const f of report.findings) {
      const places = locations.length > 0 ? locations : [undefined];
      for (const at of places) {
        const fingerprint = createHash("sha256")
          .update(`${f.id}\u0000${repository}\u0000${at?.file ?? ""}`)
          .digest("hex")
          .slice(0, 32);
        results.push({
          ruleId: f.id,
          ruleIndex: ruleIds.indexOf(f.id),
          level: SARIF_LEVEL[levelOf(f.severity, opts)],
          message: { text: printableKeepingLines(`${report.reference}: ${f.title}. ${f.detail}`) },
          // A reference given on the command line has no file: the image's name stands in for it,
          // because GitHub code scanning rejects the whole log if any result has no location.
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: artifactUri(at?.file ?? repository) },
                region: { startLine: at?.line ?? 1 },
              },
            },
          ],
          partialFingerprints: { "imageCheckFinding/v1": fingerprint },
          ...(f.waived
            ? {
                suppressions: [
                  { kind: "external", justification: `${f.waived.reason} (until ${f.waived.expires})` },
                ],
              }
            : {}),
          properties: {
            severity: f.severity,
            image: report.reference,
            ...(report.image.digest ? { digest: report.image.digest } : {}),
          },
        });
      }
    }
  }

  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "image-check",
            version: opts.version,
            ...(opts.helpUri ? { informationUri: opts.helpUri } : {}),
            rules,
          },
        },
        results,
      },
    ],
  };
}

/**
 * A file path (or an image's name) as a SARIF artifact URI: relative paths stay relative (to the
 * checkout), with `/`, each segment percent-encoded, so the `:` of `host:port/...` is not read as
 * a URI scheme; an absolute path becomes a file:// URI.
 */
function artifactUri(file: string): string {
  const path = file.replaceAll("\\", "/").replace(/^\.\//, "");
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return path.startsWith("/") ? `file://${encoded}` : encoded;
}
