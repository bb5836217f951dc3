/**
 * Every check, run over the facts. Each category lives in its own file as a pure
 * `(facts, context) => Finding[]`; this module only composes them.
 */
import type { ImageFacts } from "../facts/model.js";
import { incompleteFindings } from "./check.js";
import { configChecks } from "./config.js";
import { contentsChecks } from "./contents.js";
import { historyChecks } from "./history.js";
import { provenanceChecks } from "./provenance.js";
import { tagChecks } from "./tag.js";
import { trustChecks } from "./trust.js";
import type { Check, CheckContext, Finding } from "./types.js";
import { vulnChecks } from "./vuln.js";
import { watchChecks } from "./watch.js";

export { findingsForGatherError, incompleteFindings } from "./check.js";

/** Checks that read the config and its history: skipped when the config itself could not be gathered. */
const CONFIG_CHECKS: Check[] = [historyChecks, configChecks, contentsChecks];

/**
 * Run every check with its default severity (the policy adjusts severities later, in
 * `evaluate`). Pure. When the manifest or config could not be gathered, the checks that read them
 * are skipped rather than reporting an empty config as root and history-less; `check.incomplete`
 * says why. On a re-check of an approval (`ctx.approval`), `watch.changed` says what is new.
 */
export function runChecks(facts: ImageFacts, ctx: CheckContext): Finding[] {
  const noConfig = facts.incomplete.some((p) => p.part === "config" || p.part === "manifest");
  const checks: Check[] = [
    tagChecks,
    provenanceChecks,
    ...(noConfig ? [] : CONFIG_CHECKS),
    trustChecks,
    vulnChecks,
  ];
  const findings = [...checks.flatMap((c) => c(facts, ctx)), ...incompleteFindings(facts)];
  // Last: `watch.changed` compares everything above with what the approval saw.
  return [...findings, ...watchChecks(findings, facts, ctx)];
}
