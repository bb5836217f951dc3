/**
 * Why a policy could not be used. In a file of its own, without zod, so that code which only
 * reports policy errors (the check's dependencies) does not load the schema. The CLI maps
 * INVALID_POLICY to exit 64.
 */
import { CodedError } from "../errors.js";

/** Why a policy could not be used. The CLI maps INVALID_POLICY to exit 64. */
export class PolicyError extends CodedError<"INVALID_POLICY" | "POLICY_NOT_FOUND" | "KEY_NOT_FOUND"> {}
