/**
 * Masking secrets in facts before anything prints them. Pure. The checks read the real values;
 * every output (the report, `inspect`, Slack) shows only these masked ones.
 */
import type { FetchedBlob, ImageFacts } from "../facts/model.js";
import { splitEnv } from "./config.js";
import { secretsInCommandLine, secretsInHistoryLine } from "./history.js";
import { shellQuote } from "./run-advice.js";
import { MAX_SCAN_CHARS, maskWhole, redact, redactText, scanAssignment } from "./secrets.js";

/**
 * The facts with every secret masked: env values, labels, annotations, build steps, entrypoint,
 * cmd, healthcheck and error messages; signature and attestation bytes left out. What `inspect` prints and the report summarizes, so no
 * output shows a secret in full.
 */
export function redactFacts(facts: ImageFacts): ImageFacts {
  const c = facts.config;
  return {
    ...facts,
    config: {
      ...c,
      env: c.env.map((e) => {
        if (!e.includes("=")) return e;
        const { name, value } = splitEnv(e);
        return `${name}=${redact(value, scanAssignment(name, value))}`;
      }),
      labels: maskPairs(c.labels),
      entrypoint: c.entrypoint ? maskArgv(c.entrypoint) : null,
      cmd: c.cmd ? maskArgv(c.cmd) : null,
      healthcheck: c.healthcheck ? { ...c.healthcheck, test: maskArgv(c.healthcheck.test) } : null,
    },
    history: facts.history.map((h) => ({
      ...h,
      createdBy: redact(h.createdBy, secretsInHistoryLine(h.createdBy)),
    })),
    annotations: maskPairs(facts.annotations),
    indexAnnotations: maskPairs(facts.indexAnnotations),
    incomplete: facts.incomplete.map((p) => ({ ...p, message: redactText(p.message) })),
    // Signature and attestation bytes are verified by the trust layer, never shown: provenance
    // records build arguments, so printing it (even as base64) could print a secret in full.
    signatures: facts.signatures.map((s) => ({ ...s, blobs: s.blobs.map(withoutBytes) })),
    attestations: facts.attestations.map((a) => ({ ...a, blobs: a.blobs.map(withoutBytes) })),
  };
}

function withoutBytes(blob: FetchedBlob): FetchedBlob {
  return { ...blob, data: "", omitted: true };
}

function maskPairs(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, redact(v, scanAssignment(k, v))]));
}

/**
 * An argv with secrets masked: read as one command line (so `--password x` is seen), and each
 * argument with spaces as a script of its own (`CMD-SHELL "curl -u user:pass ..."`).
 */
function maskArgv(argv: string[]): string[] {
  const line = argv.map(shellQuote).join(" ");
  // Read only up to the scan limit: no argument of a longer command line is shown.
  if (line.length > MAX_SCAN_CHARS) return argv.map(maskWhole);
  const matches = [
    ...secretsInCommandLine(line),
    ...argv.filter((a) => /\s/.test(a)).flatMap((a) => secretsInCommandLine(a)),
  ];
  return argv.map((a) => redact(a, matches));
}
