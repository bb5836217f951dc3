/**
 * Canonical JSON as Notary v1 signs it: github.com/docker/go/canonical/json, which follows OLPC
 * canonical JSON (http://wiki.laptop.org/go/Canonical_JSON): object keys sorted by their bytes,
 * no whitespace, integers only, and in strings only `"` and `\` escaped, everything else raw.
 */
import { Buffer } from "node:buffer";

/** Thrown for values OLPC canonical JSON cannot represent (floats); callers treat it as invalid. */
export class CanonicalJsonError extends Error {}

function encodeString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Serializes parsed JSON the way notary signed it. */
export function olpcCanonical(value: unknown, depth = 0): string {
  if (depth > 64) throw new CanonicalJsonError("too deep");
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new CanonicalJsonError("non-integer number");
    return String(value);
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return `[${value.map((v) => olpcCanonical(v, depth + 1)).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byteOrder(a, b));
    return `{${entries.map(([k, v]) => `${encodeString(k)}:${olpcCanonical(v, depth + 1)}`).join(",")}}`;
  }
  throw new CanonicalJsonError(`cannot encode ${typeof value}`);
}
