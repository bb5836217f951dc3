/**
 * Why a click or a submission changed nothing, as an ephemeral note. Pure.
 */
import type { DecisionRecord } from "../../store/api.js";
import { decisionLine } from "./common.js";

/**
 * Why a decision was refused: the store's codes, a request the clicker may not touch, and a clicker
 * Slack could not tell us about in time (never taken for an approver).
 */
export type RefusalCode =
  | "NOT_APPROVER"
  | "SELF_DECISION"
  | "ALREADY_DECIDED"
  | "NOT_DECIDABLE"
  | "NOT_FOUND"
  | "NOT_REQUESTER"
  | "APPROVERS_UNAVAILABLE";

/** The explanation of a refusal; with the decision in force when one exists. */
export function refusalText(code: RefusalCode, decision?: DecisionRecord | null): string {
  switch (code) {
    case "NOT_APPROVER":
      return ":no_entry: Only IT approvers can decide requests. Nothing was changed.";
    case "SELF_DECISION":
      return ":no_entry: You asked for this image yourself, so another approver has to decide. Nothing was changed.";
    case "ALREADY_DECIDED":
      return decision
        ? `This request was already decided: ${decisionLine(decision, false)}. Nothing was changed.`
        : "This request was already decided. Nothing was changed.";
    case "NOT_DECIDABLE":
      return ":hourglass_flowing_sand: This request cannot be decided: it is still being checked, or its check failed. Nothing was changed.";
    case "NOT_FOUND":
      return "This request no longer exists. Nothing was changed.";
    case "NOT_REQUESTER":
      return ":no_entry: Only the person who asked can add the reason for this request. Nothing was changed.";
    case "APPROVERS_UNAVAILABLE":
      return ":warning: Could not verify that you are an approver right now (Slack did not answer in time), so nothing was changed. Try again in a moment.";
  }
}
