/**
 * Retry is data (STYLE.md, convention 5): which error codes are temporary, and how long to wait.
 * Handlers signal a temporary failure by throwing a CodedError with one of these codes; a 429 may
 * carry `retryAfterMs` (from the Retry-After header), which reschedules without spending an attempt.
 */
import { CodedError, oneLine } from "../errors.js";

/** Codes worth another attempt: the same request may well succeed later. */
export const TEMPORARY_CODES: ReadonlySet<string> = new Set([
  // Our own: the per-job timeout, a lease lost to another worker.
  "TIMEOUT",
  "LEASE_LOST",
  // Registry and engine (src/facts/model.ts GatherErrorCode).
  "NETWORK",
  "SERVER_ERROR",
  "TOO_MANY_REQUESTS",
  "ENGINE_UNAVAILABLE",
  // Slack Web API (rate limits and outages come back as these).
  "RATE_LIMITED",
  "SLACK_UNAVAILABLE",
  // The database was locked longer than the busy timeout.
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  // Node's socket errors, when a handler lets one through unwrapped.
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/**
 * Codes never retried, whatever else says so: a check that ran out of its whole deadline (policy
 * `limits.checkSeconds`) would only do it again, and each attempt holds a worker for the full
 * deadline: a hostile registry could then occupy the queue for attempts x deadline per request.
 */
export const FINAL_CODES: ReadonlySet<string> = new Set(["DEADLINE"]);

/** Whether a failure with `code` is worth another attempt (TEMPORARY_CODES, less FINAL_CODES). */
export function isTemporary(code: string): boolean {
  return TEMPORARY_CODES.has(code) && !FINAL_CODES.has(code);
}

/** Defaults, each with why. */
export const RETRY_DEFAULTS = {
  /** The first retry comes soon: most registry hiccups are gone in a second or two. */
  baseMs: 2_000,
  /** Never wait longer than this between attempts: a request someone waits for in Slack. */
  maxMs: 5 * 60_000,
  /** A Retry-After beyond this is treated as this (a registry asking for hours is misbehaving). */
  maxRetryAfterMs: 15 * 60_000,
};

/** An error reduced to what the queue stores and decides on. */
export interface ClassifiedError {
  code: string;
  message: string;
  temporary: boolean;
  /** From a 429's Retry-After, when the thrower knew it. */
  retryAfterMs?: number;
}

/** Classify a thrown value: its code (INTERNAL when it has none), whether to retry, Retry-After. */
export function classify(err: unknown): ClassifiedError {
  const code = errorCode(err);
  const message = oneLine(err) || code;
  const retryAfter = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  const out: ClassifiedError = { code, message, temporary: isTemporary(code) };
  if (typeof retryAfter === "number" && Number.isFinite(retryAfter) && retryAfter >= 0)
    out.retryAfterMs = Math.min(retryAfter, RETRY_DEFAULTS.maxRetryAfterMs);
  return out;
}

function errorCode(err: unknown): string {
  if (err instanceof CodedError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code) return code;
  if (err instanceof Error && err.name === "AbortError") return "ABORTED";
  if (err instanceof Error && err.name === "TimeoutError") return "TIMEOUT";
  return "INTERNAL";
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failed: exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so a burst of failed jobs does not retry
 * in lockstep against the same registry.
 */
export function backoffMs(
  attempt: number,
  random: () => number,
  opts: { baseMs?: number; maxMs?: number } = {},
): number {
  const base = opts.baseMs ?? RETRY_DEFAULTS.baseMs;
  const max = opts.maxMs ?? RETRY_DEFAULTS.maxMs;
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
