/**
 * The requester's "Request approval…" button (shown when no reason was typed): opens the reason
 * modal with the click's trigger id. Nothing is written until the modal is submitted.
 */
import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { ACTION } from "../../ids.js";
import { renderReasonModal } from "../../render/modals.js";
import { refusalText } from "../../render/refusal.js";
import { renderNote } from "../../render/report.js";
import { type ListenerContext, originOf, tellClicker } from "../context.js";

/** Register the button. */
export function registerRequestApprovalAction(app: App, ctx: ListenerContext): void {
  app.action<BlockAction<ButtonAction>>(ACTION.requestApproval, async ({ ack, body, action }) => {
    const origin = originOf(body);
    const request = ctx.store.getRequest(action.value ?? "");
    const refusal = !request
      ? "NOT_FOUND"
      : request.requestedBy !== origin.userId
        ? "NOT_REQUESTER"
        : request.status !== "pending"
          ? "ALREADY_DECIDED"
          : null;
    ctx.metrics.inc("image_check_actions_total", {
      action: "request_approval",
      outcome: refusal ?? "asked-reason",
    });
    await ack();
    if (refusal || !request) {
      await tellClicker(ctx, origin, renderNote(refusalText(refusal ?? "NOT_FOUND")));
      return;
    }
    try {
      await ctx.api.openView(body.trigger_id, renderReasonModal(request));
    } catch (err) {
      ctx.log("warn", `could not open the reason modal: ${(err as Error).message}`);
      await tellClicker(
        ctx,
        origin,
        renderNote(":warning: Slack did not open the form; click Request approval again."),
      );
    }
  });
}
