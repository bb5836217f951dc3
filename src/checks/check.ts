/**
 * `check.incomplete` and `trust.digest-mismatch`: what could not be gathered. A partial gather
 * never passes (contract, "Verdict"); the policy evaluator enforces that even when a policy lowers
 * or disables `check.incomplete`. Pure.
 */
import type { ImageFacts, IncompletePart } from "../facts/model.js";
import { finding, listing } from "./finding.js";
import { redactText } from "./secrets.js";
import type { Finding } from "./types.js";

/**
 * Parts whose failure is reported by a check of their own instead: when Docker Hub cannot be
 * reached, `provenance.publisher` says `unknown` (and `provenance.untrusted-publisher` fires where
 * it matters), so an outage of Hub's website API does not hold up official or policy-trusted images.
 */
const REPORTED_ELSEWHERE = new Set<IncompletePart["part"]>(["hub"]);

function mismatch(message: string, evidence: Record<string, unknown>): Finding {
  return finding(
    "trust.digest-mismatch",
    "Content from the registry does not match its digest",
    `Expected the bytes served for a digest to hash to that digest; they did not (${message}). The registry, a proxy or the network path served something other than what was asked for: do not use this image, and report it to the registry's owner.`,
    evidence,
  );
}

/** Findings for the parts of `facts.incomplete`: one `check.incomplete` (plus `trust.digest-mismatch` for a DIGEST_MISMATCH). */
export function incompleteFindings(facts: ImageFacts): Finding[] {
  // Error messages can quote URLs, and URLs can carry credentials.
  const parts = facts.incomplete
    .filter((p) => !REPORTED_ELSEWHERE.has(p.part))
    .map((p) => ({ ...p, message: redactText(p.message) }));
  if (parts.length === 0) return [];
  const out: Finding[] = [];
  const bad = parts.filter((p) => p.code === "DIGEST_MISMATCH");
  if (bad.length) out.push(mismatch(bad.map((p) => `${p.part}: ${p.message}`).join("; "), { parts: bad }));
  const codes = [...new Set(parts.map((p) => p.code))];
  out.push(
    finding(
      "check.incomplete",
      `The check is incomplete: ${listing(parts.map((p) => p.part))} could not be gathered`,
      `Expected every part of the image's facts; ${listing(parts.map((p) => `${p.part} failed with ${p.code} (${p.message})`))}. What is missing was not checked, so this report cannot pass: retry, and fix the cause if it persists.`,
      { codes, parts: parts.map((p) => ({ part: p.part, code: p.code, message: p.message })) },
    ),
  );
  return out;
}

/**
 * Findings for a gather that failed as a whole (no facts): `check.incomplete` with the error code,
 * and `trust.digest-mismatch` first when the code is DIGEST_MISMATCH.
 */
export function findingsForGatherError(error: { code: string; message: string }): Finding[] {
  const err = { code: error.code, message: redactText(error.message) };
  const out: Finding[] = [];
  if (err.code === "DIGEST_MISMATCH") out.push(mismatch(err.message, { code: err.code }));
  out.push(
    finding(
      "check.incomplete",
      `The image could not be checked: ${err.code}`,
      `Expected to gather the image's facts; gathering failed with ${err.code} (${err.message}). Nothing was checked, so this report cannot pass: fix the cause (name, credentials, network or registry) and check again.`,
      { code: err.code, message: err.message },
    ),
  );
  return out;
}
