/**
 * in-toto statements (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) and
 * the DSSE envelopes that carry them (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md).
 */
import type { Buffer } from "node:buffer";
import { type DigestSet, digestSetEntries } from "./digests.js";
import { arr, decodeBase64, isObject, type Parsed, parseJson, str } from "./parse.js";

/** The DSSE payload type of an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** A parsed statement: what it is about and what it says. */
export interface Statement {
  predicateType: string;
  /** Every subject digest, as `alg:hex`. */
  subjectDigests: string[];
  predicate: unknown;
}

/** A DSSE envelope with its payload decoded. */
export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid: string; sig: string }[];
  /** The envelope as JSON, for handing to a Sigstore bundle. */
  json: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
}

/** Reads an in-toto statement (v0.1 or v1) from parsed JSON. */
export function statementFrom(value: unknown): Parsed<Statement> {
  if (!isObject(value)) return { ok: false, reason: "statement is not a JSON object" };
  const type = str(value, "_type");
  if (!type?.startsWith("https://in-toto.io/Statement/"))
    return { ok: false, reason: "not an in-toto statement" };
  const predicateType = str(value, "predicateType") ?? "";
  const subjectDigests = arr(value, "subject").flatMap((s) =>
    digestSetEntries(isObject(s) ? s.digest : undefined),
  );
  return { ok: true, value: { predicateType, subjectDigests, predicate: value.predicate } };
}

/** Reads an in-toto statement from bytes. */
export function parseStatement(bytes: Buffer): Parsed<Statement> {
  const json = parseJson(bytes);
  return json.ok ? statementFrom(json.value) : json;
}

/** True when `value` looks like a DSSE envelope (before any validation). */
export function looksLikeDsse(value: unknown): boolean {
  return (
    isObject(value) && typeof value.payloadType === "string" && "payload" in value && "signatures" in value
  );
}

/** Validates and decodes a DSSE envelope. */
export function dsseFrom(value: unknown): Parsed<DsseEnvelope> {
  if (!isObject(value)) return { ok: false, reason: "envelope is not a JSON object" };
  const payloadType = str(value, "payloadType");
  if (payloadType === undefined) return { ok: false, reason: "envelope has no payloadType" };
  const payload = decodeBase64(value.payload);
  if (!payload.ok) return { ok: false, reason: "envelope payload is not base64" };
  const signatures: { keyid: string; sig: string }[] = [];
  for (const s of arr(value, "signatures")) {
    const sig = str(s, "sig");
    if (sig === undefined || !decodeBase64(sig).ok)
      return { ok: false, reason: "envelope signature is not base64" };
    signatures.push({ keyid: str(s, "keyid") ?? "", sig });
  }
  const json = { payloadType, payload: payload.value.toString("base64"), signatures };
  return { ok: true, value: { payloadType, payload: payload.value, signatures, json } };
}

/** Whether any subject names one of the image's digests; null when the statement names none. */
export function subjectMatches(statement: Statement, digests: DigestSet): boolean | null {
  if (statement.subjectDigests.length === 0) return null;
  return statement.subjectDigests.some((d) => digests.has(d));
}
