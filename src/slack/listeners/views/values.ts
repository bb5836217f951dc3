/**
 * Reading the reason input of a submitted modal.
 */
import { REASON_INPUT } from "../../ids.js";
import { REASON_MAX } from "../../render/modals.js";

/** The shortest reason worth reading. */
const REASON_MIN = 3;

/** The submitted reason, trimmed, or the inline error Slack shows under the input. */
export function reasonFrom(
  values: Record<string, Record<string, { value?: string | null }>>,
): { ok: true; value: string } | { ok: false; error: string } {
  const value = (values[REASON_INPUT.blockId]?.[REASON_INPUT.actionId]?.value ?? "").trim();
  if (value.length < REASON_MIN)
    return { ok: false, error: `Please write at least ${REASON_MIN} characters.` };
  if (value.length > REASON_MAX)
    return { ok: false, error: `Please keep it under ${REASON_MAX} characters.` };
  return { ok: true, value };
}
