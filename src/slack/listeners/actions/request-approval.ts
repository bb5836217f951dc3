/**
 * The requester's "Request approval…" button (shown when no reason was typed) and "Ask IT to
 * reconsider…" (shown when a standing rejection settled the request): opens the reason modal with
 * the click's trigger id. Nothing is written until the modal is submitted.
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
    const asked = await ctx.service.canAskApproval(action.value ?? "", origin.userId);
    ctx.metrics.inc("image_check_actions_total", {
      action: "request_approval",
      outcome: asked.ok ? "asked-reason" : asked.code,
    });
    await ack();
    if (!asked.ok) {
      await tellClicker(ctx, origin, renderNote(refusalText(asked.code, asked.decision)));
      return;
    }
    const { request } = asked;
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
