/**
 * The base of every error this project throws on purpose: a `code` from a closed union per module,
 * a one-line message a user can act on, and the `cause` it wraps. Code branches on `err.code`,
 * never on message text (STYLE.md, convention 2).
 */
export class CodedError<C extends string = string> extends Error {
  /** The machine-readable reason, from the module's closed union. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is a CodedError, optionally with one of the given codes. */
export function isCoded<C extends string>(err: unknown, ...codes: C[]): err is CodedError<C> {
  if (!(err instanceof CodedError)) return false;
  return codes.length === 0 || (codes as string[]).includes(err.code);
}

/** One line for a user: the message of a coded error, or a short wrap of anything else. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, " ").trim();
}
