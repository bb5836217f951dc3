/**
 * Retry is data (STYLE.md, convention 5): which answers are worth asking again, how often, and how
 * long to wait. The transport reads this table; nothing else decides to retry.
 */

/** The retry policy, as data. */
export const RETRY = {
  /** Statuses that mean "try again later" (RFC 9110 15.6; 429 from RFC 6585). */
  statuses: new Set([429, 500, 502, 503, 504]),
  /** Registry error codes that mean the same, whatever the status (distribution spec, "Error Codes"). */
  registryCodes: new Set(["TOOMANYREQUESTS", "UNAVAILABLE"]),
  /** Socket errors worth one more try: mostly a keep-alive connection the server closed meanwhile. */
  networkCodes: new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]),
  /** Attempts in all (first try included): enough to ride out a blip, bounded so a check stays fast. */
  maxAttempts: 3,
  /** First backoff; doubled each attempt. */
  baseDelayMs: 250,
  /** Longest backoff between attempts. */
  maxDelayMs: 4_000,
  /** Longest Retry-After honoured; a registry asking for more is answered with TOO_MANY_REQUESTS now. */
  maxRetryAfterMs: 30_000,
} as const;

/** Whether an HTTP answer may be retried. */
export function isRetryableStatus(status: number, registryCodes: readonly string[] = []): boolean {
  return RETRY.statuses.has(status) || registryCodes.some((c) => RETRY.registryCodes.has(c));
}

/** Whether a socket error may be retried. */
export function isRetryableNetworkError(code: string | undefined): boolean {
  return code !== undefined && RETRY.networkCodes.has(code);
}

/**
 * The wait before attempt `attempt + 1` (attempt counts from 0): exponential backoff with "equal
 * jitter" (half fixed, half random), so parallel clients do not retry in lockstep.
 */
export function backoffMs(attempt: number, random: () => number): number {
  const ceiling = Math.min(RETRY.maxDelayMs, RETRY.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * Parse Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP date, relative to `nowMs`.
 * Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
