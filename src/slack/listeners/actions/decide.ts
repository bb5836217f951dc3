/**
 * The IT buttons. Approve: the decision is written (with the jobs that update the message and DM the
 * requester), then acked. Reject: the clicker is checked, acked, and asked for a reason in a modal;
 * the decision is written when the modal is submitted. A refused click changes nothing and says why.
 */
import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { ACTION } from "../../ids.js";
import { renderRejectModal } from "../../render/modals.js";
import { refusalText } from "../../render/refusal.js";
import { renderNote } from "../../render/report.js";
import { type ListenerContext, originOf, tellClicker } from "../context.js";

/** Register the approve and reject buttons. */
export function registerDecisionActions(app: App, ctx: ListenerContext): void {
  app.action<BlockAction<ButtonAction>>(ACTION.approve, async ({ ack, body, action }) => {
    const origin = originOf(body);
    const requestId = action.value ?? "";
    const out = await ctx.service.decide({
      requestId,
      userId: origin.userId,
      decision: "approved",
      reason: null,
    });
    ctx.metrics.inc("image_check_actions_total", {
      action: "approve",
      outcome: out.ok ? "decided" : out.code,
    });
    const note = out.ok ? null : refusalText(out.code, out.decision);
    await ack();
    if (note) await tellClicker(ctx, origin, renderNote(note));
    else if (origin.fromHome) await ctx.service.refreshHome(origin.userId);
  });

  app.action<BlockAction<ButtonAction>>(ACTION.reject, async ({ ack, body, action }) => {
    const origin = originOf(body);
    const requestId = action.value ?? "";
    const check = await ctx.service.canDecide(requestId, origin.userId);
    ctx.metrics.inc("image_check_actions_total", {
      action: "reject",
      outcome: check.ok ? "asked-reason" : check.code,
    });
    await ack();
    if (!check.ok) {
      await tellClicker(ctx, origin, renderNote(refusalText(check.code, check.decision)));
      return;
    }
    try {
      await ctx.api.openView(body.trigger_id, renderRejectModal(check.request));
    } catch (err) {
      // The trigger id is valid for 3 seconds only, so there is nothing to retry later.
      ctx.log("warn", `could not open the reject modal: ${(err as Error).message}`);
      await tellClicker(
        ctx,
        origin,
        renderNote(
          ":warning: Slack did not open the rejection form; nothing was changed. Click Reject again.",
        ),
      );
    }
  });
}
