/**
 * Errors of the registry client: a GatherErrorCode, the HTTP status, and the registry's own error
 * body (distribution spec, "Error Codes": `{"errors":[{"code","message","detail"}]}`) when it sent one.
 */
import { CodedError } from "../errors.js";
import type { GatherErrorCode } from "../facts/model.js";

/** One entry of a registry's error body, sanitized to one short line. */
export interface RegistryErrorDetail {
  code: string;
  message: string;
}

/** A failure talking to a registry, token service or notary server. */
export class RegistryError extends CodedError<GatherErrorCode> {
  /** HTTP status, when the failure was an HTTP answer. */
  readonly status?: number;
  /** The registry's own error entries, parsed from its (capped) error body. */
  readonly registryErrors?: RegistryErrorDetail[];
  /** How long the registry asked us to wait (Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;

  constructor(
    code: GatherErrorCode,
    message: string,
    options: {
      cause?: unknown;
      status?: number;
      registryErrors?: RegistryErrorDetail[];
      retryAfterMs?: number;
    } = {},
  ) {
    super(code, message, { cause: options.cause });
    if (options.status !== undefined) this.status = options.status;
    if (options.registryErrors?.length) this.registryErrors = options.registryErrors;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * How to make and pass a policy, appended to every refusal the policy can lift (a private address,
 * plain http): the refusal names the field, this says where the field goes. One line.
 */
export const POLICY_HINT =
  "(make a policy with `image-check policy --print-default > policy.yaml`, then pass `--policy policy.yaml` or set IMAGE_CHECK_POLICY)";

/** Most entries kept from one error body: enough to explain, not enough to flood a log. */
const MAX_ERROR_ENTRIES = 5;
/** Longest message kept per entry. */
const MAX_ERROR_TEXT = 200;

/** Untrusted text made safe for one log line: no control characters, bounded length. */
export function sanitizeText(text: string, max = MAX_ERROR_TEXT): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** Parse a registry error body; undefined when it is not the spec's shape. */
export function parseErrorBody(body: Buffer): RegistryErrorDetail[] | undefined {
  if (body.length === 0) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  const errors = (json as { errors?: unknown })?.errors;
  if (!Array.isArray(errors)) return undefined;
  const details: RegistryErrorDetail[] = [];
  for (const entry of errors.slice(0, MAX_ERROR_ENTRIES)) {
    if (!entry || typeof entry !== "object") continue;
    const { code, message } = entry as { code?: unknown; message?: unknown };
    details.push({
      code: typeof code === "string" ? sanitizeText(code, 40) : "UNKNOWN",
      message: typeof message === "string" ? sanitizeText(message) : "",
    });
  }
  return details.length ? details : undefined;
}

/** What was being fetched, so a bare 404 maps to the right code. */
export type ResourceKind = "manifest" | "blob" | "tags" | "referrers" | "token" | "notary" | "ping" | "osv";

/** Registry error codes that name our GatherErrorCode directly. */
const REGISTRY_CODES: Record<string, GatherErrorCode> = {
  NAME_UNKNOWN: "NAME_UNKNOWN",
  NAME_INVALID: "NAME_INVALID",
  MANIFEST_UNKNOWN: "MANIFEST_UNKNOWN",
  BLOB_UNKNOWN: "BLOB_UNKNOWN",
  UNAUTHORIZED: "UNAUTHORIZED",
  DENIED: "DENIED",
  TOOMANYREQUESTS: "TOO_MANY_REQUESTS",
};

/** The code for an HTTP error answer: the registry's own code when it maps, else by status. */
export function codeForStatus(
  status: number,
  kind: ResourceKind,
  details?: RegistryErrorDetail[],
): GatherErrorCode {
  for (const d of details ?? []) {
    const mapped = REGISTRY_CODES[d.code];
    if (mapped) return mapped;
  }
  if (status === 401) return "UNAUTHORIZED";
  if (status === 403) return "DENIED";
  if (status === 404)
    return kind === "blob" ? "BLOB_UNKNOWN" : kind === "manifest" ? "MANIFEST_UNKNOWN" : "NAME_UNKNOWN";
  if (status === 429) return "TOO_MANY_REQUESTS";
  if (status >= 500) return "SERVER_ERROR";
  return "BAD_RESPONSE";
}

/** Build the error for an HTTP error answer, with a one-line message naming what failed. */
export function errorForResponse(
  what: string,
  status: number,
  kind: ResourceKind,
  body: Buffer,
  retryAfterMs?: number,
): RegistryError {
  const details = parseErrorBody(body);
  const code = codeForStatus(status, kind, details);
  const said = details?.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join("; ");
  return new RegistryError(code, `${what}: HTTP ${status}${said ? ` (${said})` : ""}`, {
    status,
    ...(details ? { registryErrors: details } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}
