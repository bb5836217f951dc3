/**
 * The report of the contract (schema `image-check/report@1`), built from what a check gathered and
 * concluded. Pure. Everything that comes from the image (labels, env, history, entrypoint) passes
 * through the secret scanner on the way in: a secret is never in a report in full.
 */
import type { ImageFacts } from "../facts/model.js";
import type { Evaluation } from "../policy/evaluate.js";
import { parseReference } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import type { TrustReport } from "../trust/types.js";
import type { VulnerabilityReport } from "../vuln/types.js";
import { redactFacts } from "./redact.js";
import type { Report, ReportFacts } from "./report.js";
import { runAdvice } from "./run-advice.js";
import { pinnedReference } from "./tag.js";

/** What buildReport needs. */
export interface BuildReportInput {
  /** The reference as the user typed it. */
  reference: string;
  ref: ImageReference;
  /** Null when gathering failed as a whole. */
  facts: ImageFacts | null;
  evaluation: Evaluation;
  trust: TrustReport;
  checkedAt: Date;
  durationMs: number;
  policyVersion: string;
  /** `os/arch[/variant]` of the image checked (or asked for, when nothing was gathered). */
  platform: string;
  /** The vulnerability summary; null when off or not assessed. */
  vulnerabilities?: VulnerabilityReport | null;
}

/** Build the report. */
export function buildReport(input: BuildReportInput): Report {
  const { ref, facts, evaluation, trust } = input;
  const digest = facts?.digest ?? ref.digest;
  const pinned = pinnedReference(ref, digest);
  // Only meaningful when the reference pins a digest: for a tag alone, `digest` is what the tag resolves to.
  const tagDigest = ref.tag && ref.digest ? facts?.registryInfo?.tagDigest : undefined;
  const report: Report = {
    schema: "image-check/report@1",
    reference: input.reference,
    image: {
      registry: ref.registry,
      repository: ref.repository,
      ...(ref.tag ? { tag: ref.tag } : {}),
      ...(digest ? { digest } : {}),
      platform: input.platform,
      ...(facts?.manifestDigest ? { manifestDigest: facts.manifestDigest } : {}),
      ...(facts?.configDigest ? { configDigest: facts.configDigest } : {}),
      ...(pinned ? { pinned } : {}),
      ...(tagDigest ? { tagDigest } : {}),
    },
    verdict: evaluation.verdict,
    findings: evaluation.findings,
    facts: factsSummary(facts, trust),
    checkedAt: input.checkedAt.toISOString(),
    durationMs: input.durationMs,
    decidedBy: evaluation.decidedBy,
    policyVersion: input.policyVersion,
    vulnerabilities: input.vulnerabilities ?? null,
  };
  if (facts) {
    report.run = runAdvice(
      facts,
      pinned ?? `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}`,
    );
    report.source = { kind: facts.source, requests: facts.stats.requests, bytes: facts.stats.bytes };
  }
  return report;
}

/**
 * The report as a request that named the same image another way sees it (a check shared by
 * identical requests, or a stored report reused): its own reference, image name and pinned
 * reference, also where findings and the run advice quote them. The caller ensures the two
 * references name the same image (same registry, repository, tag and digest in canonical form):
 * nothing else in the report depends on the spelling. A reference that does not parse changes
 * nothing.
 */
export function respelledReport(report: Report, reference: string): Report {
  if (report.reference === reference) return report;
  let ref: ImageReference;
  try {
    ref = parseReference(reference);
  } catch {
    return report;
  }
  const old = report.image;
  const oldName = old.pinned ?? `${old.registry}/${old.repository}${old.tag ? `:${old.tag}` : ""}`;
  const pinned = pinnedReference(ref, old.digest);
  const newName = pinned ?? `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}`;
  const names = new Map([[oldName, newName]]);
  const withReference = new Map([...names, [report.reference, reference]]);
  const { tag: _oldTag, pinned: _oldPinned, ...image } = old;
  return {
    ...report,
    reference,
    image: {
      ...image,
      registry: ref.registry,
      repository: ref.repository,
      ...(ref.tag ? { tag: ref.tag } : {}),
      ...(pinned ? { pinned } : {}),
    },
    findings: report.findings.map((f) => {
      // A finding that quotes the reference (evidence.reference) names it in its text too.
      const quotes = f.evidence.reference === report.reference;
      const swaps = quotes ? withReference : names;
      const evidence = { ...f.evidence };
      if (quotes) evidence.reference = reference;
      if (old.pinned && evidence.pinned === old.pinned) evidence.pinned = pinned ?? null;
      return { ...f, title: swapAll(f.title, swaps), detail: swapAll(f.detail, swaps), evidence };
    }),
    ...(report.run
      ? {
          run: {
            dockerRun: swapAll(report.run.dockerRun, names),
            compose: swapAll(report.run.compose, names),
            notes: report.run.notes.map((n) => swapAll(n, names)),
          },
        }
      : {}),
  };
}

/** `text` with every occurrence of a key of `swaps` replaced by its value, in one pass (longest key first). */
function swapAll(text: string, swaps: ReadonlyMap<string, string>): string {
  const keys = [...swaps.keys()].filter((k) => k !== "").sort((a, b) => b.length - a.length);
  if (keys.length === 0) return text;
  const pattern = new RegExp(keys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  return text.replace(pattern, (m) => swaps.get(m) ?? m);
}

/** The facts summary: what a reviewer reads, secrets masked. */
function factsSummary(unmasked: ImageFacts | null, trust: TrustReport): ReportFacts {
  const facts = unmasked ? redactFacts(unmasked) : null;
  const summary: ReportFacts = {
    user: facts?.config.user ?? "",
    labels: facts?.config.labels ?? {},
    history: (facts?.history ?? []).map((h) => ({
      ...(h.created ? { created: h.created } : {}),
      createdBy: h.createdBy,
      emptyLayer: h.emptyLayer,
    })),
    signatures: trust.signatures.map((s) => ({
      kind: s.kind,
      foundVia: s.foundVia,
      status: s.status,
      ...(s.signer ? { signer: s.signer } : {}),
      detail: s.detail,
    })),
    attestations: trust.attestations.map((a) => ({
      kind: a.kind,
      predicateType: a.predicateType,
      foundVia: a.foundVia,
      ...(a.sourceRepository ? { sourceRepository: a.sourceRepository } : {}),
      ...(a.sourceRevision ? { sourceRevision: a.sourceRevision } : {}),
    })),
  };
  if (facts?.config.created) summary.created = facts.config.created;
  if (!facts) return summary;
  const c = facts.config;
  summary.env = c.env;
  summary.exposedPorts = c.exposedPorts;
  summary.volumes = c.volumes;
  summary.entrypoint = c.entrypoint;
  summary.cmd = c.cmd;
  summary.workingDir = c.workingDir;
  summary.healthcheck = c.healthcheck;
  summary.compressedSize = facts.compressedSize ?? null;
  summary.layers = facts.layers.length;
  summary.platforms = facts.platforms.map((p) =>
    p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`,
  );
  if (facts.hub) summary.hub = facts.hub;
  if (trust.notes.length) summary.trustNotes = trust.notes;
  if (facts.incomplete.length) summary.incomplete = facts.incomplete;
  return summary;
}
