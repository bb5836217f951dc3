/**
 * Guarded parsing of untrusted bytes. Every signature, bundle, envelope and TUF file read by the
 * trust layer comes from a registry or notary server we do not trust, so nothing here throws:
 * each helper returns a value or a one-line reason.
 */
import { Buffer } from "node:buffer";

/** A parse result: the value, or why there is none. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Deepest JSON nesting accepted; real signatures, statements and SBOMs stay far below it. */
export const MAX_JSON_DEPTH = 64;

/** Largest document parsed (SBOMs of big images run to tens of MB; the facts layer caps downloads too). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict standard base64 (whitespace tolerated, as PEM bodies and some tools wrap lines). */
export function decodeBase64(text: unknown): Parsed<Buffer> {
  if (typeof text !== "string") return { ok: false, reason: "not a base64 string" };
  const compact = text.replace(/\s+/g, "");
  if (!BASE64.test(compact) || compact.length % 4 === 1) return { ok: false, reason: "bad base64" };
  return { ok: true, value: Buffer.from(compact, "base64") };
}

/** Strict base64url as JWS uses it (RFC 7515 section 2), padding tolerated. */
export function decodeBase64Url(text: unknown): Parsed<Buffer> {
  if (typeof text !== "string" || !BASE64URL.test(text) || text.length % 4 === 1) {
    return { ok: false, reason: "bad base64url" };
  }
  return { ok: true, value: Buffer.from(text, "base64url") };
}

/** Nesting depth of a JSON text, counted without recursion (brackets inside strings ignored). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** JSON.parse with size and depth limits, so later recursive walks cannot blow the stack. */
export function parseJson(input: string | Buffer): Parsed<unknown> {
  if (input.length > MAX_JSON_BYTES) return { ok: false, reason: `JSON larger than ${MAX_JSON_BYTES} bytes` };
  const text = typeof input === "string" ? input : input.toString("utf8");
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    return { ok: false, reason: `JSON nested deeper than ${MAX_JSON_DEPTH}` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "not valid JSON" };
  }
}

/** Base64 text holding a JSON document (the form every fetched blob takes in ImageFacts). */
export function parseBase64Json(text: unknown): Parsed<unknown> {
  const bytes = decodeBase64(text);
  return bytes.ok ? parseJson(bytes.value) : bytes;
}

/** A plain JSON object, as a record. */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Follows `path` through nested objects; undefined where any step is missing or not an object. */
export function at(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const key of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** The string at `path`, or undefined. */
export function str(v: unknown, ...path: string[]): string | undefined {
  const s = at(v, ...path);
  return typeof s === "string" ? s : undefined;
}

/** The array at `path`, or an empty array. */
export function arr(v: unknown, ...path: string[]): unknown[] {
  const a = at(v, ...path);
  return Array.isArray(a) ? a : [];
}

/** Shortens untrusted text for a one-line detail (no newlines, bounded length). */
export function clip(text: string, max = 120): string {
  const one = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Every PEM block of `label` in `text` (certificate chains are concatenated PEM). */
export function pemBlocks(text: string, label = "CERTIFICATE"): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, "g");
  return text.match(re) ?? [];
}
