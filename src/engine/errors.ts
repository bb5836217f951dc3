/**
 * Errors of the engine source: a closed subset of GatherErrorCode, so the worker and the CLI treat
 * an engine failure exactly like a registry failure with the same code.
 */
import { CodedError } from "../errors.js";
import type { GatherErrorCode } from "../facts/model.js";

/** Codes the engine source throws. */
export type EngineErrorCode = Extract<
  GatherErrorCode,
  | "ENGINE_UNAVAILABLE"
  | "IMAGE_NOT_IN_ENGINE"
  | "TIMEOUT"
  | "ABORTED"
  | "BAD_RESPONSE"
  | "SERVER_ERROR"
  | "DENIED"
>;

/** A failure talking to the Docker engine. */
export class EngineError extends CodedError<EngineErrorCode> {
  /** HTTP status of the engine's answer, when the failure was one. */
  readonly status?: number;

  constructor(code: EngineErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(code, message, { cause: options.cause });
    if (options.status !== undefined) this.status = options.status;
  }
}
