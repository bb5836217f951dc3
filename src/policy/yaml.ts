/**
 * Reading a YAML policy file: YAML text in, a validated Policy out (./parse.ts validates). Kept
 * apart from ./parse.ts so that the YAML parser loads only for a YAML policy. Pure.
 */
import { parseDocument } from "yaml";
import { PolicyError, parsePolicyInput } from "./parse.js";
import type { Policy } from "./schema.js";

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
  return parsePolicyInput(input, fileName);
}
