/**
 * `check --vuln-report FILE`: a Trivy (SchemaVersion 2) or Grype JSON report made for the image,
 * e.g. in CI. Read once, before anything is fetched; bound to the image once its digests are known
 * and refused when it names another one (a report about another build must not clear this one).
 */
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { ImageFacts } from "../facts/model.js";
import { parseJson } from "../trust/parse.js";
import { reportNamesOtherImage } from "../vuln/assess.js";
import { VULN_LIMITS } from "../vuln/limits.js";
import { readScanReport } from "../vuln/reports.js";
import type { ScanResult } from "../vuln/types.js";
import { UsageError } from "./args.js";

/** Reads and parses the report, or throws a one-line UsageError. */
export async function readVulnReportFile(path: string, cwd: string): Promise<ScanResult> {
  const full = resolve(cwd, path);
  let bytes: Buffer;
  try {
    const file = await open(full, "r");
    try {
      // Read at most one byte past the cap, so a huge file is refused without reading it whole.
      const buf = Buffer.alloc(VULN_LIMITS.bytes + 1);
      const { bytesRead } = await file.read(buf, 0, buf.length, 0);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new UsageError(
      `--vuln-report ${path}: cannot be read (${typeof code === "string" ? code : "error"})`,
    );
  }
  if (bytes.length > VULN_LIMITS.bytes)
    throw new UsageError(`--vuln-report ${path}: larger than ${VULN_LIMITS.bytes} bytes`);
  const json = parseJson(bytes);
  const report = json.ok ? readScanReport(json.value) : json;
  if (!report.ok) throw new UsageError(`--vuln-report ${path}: ${report.reason}`);
  return report.value;
}

/** The report bound to these facts; throws a UsageError when it names another image's digest. */
export function bindVulnReport(path: string, report: ScanResult, facts: ImageFacts): ScanResult {
  if (reportNamesOtherImage(report, facts)) {
    throw new UsageError(
      `--vuln-report ${path} is about another image: it names ${report.digests.slice(0, 2).join(", ")}, not ${facts.digest ?? facts.manifestDigest} (manifest ${facts.manifestDigest}, config ${facts.configDigest})`,
    );
  }
  return report;
}
