/**
 * The approver's rejection modal: the rejection is decided (with the jobs that update the IT message
 * and DM the requester) before the submission is acknowledged. Refusals replace the form with why.
 */
import type { App } from "@slack/bolt";
import { CALLBACK, REASON_INPUT } from "../../ids.js";
import { renderNoticeModal } from "../../render/modals.js";
import { refusalText } from "../../render/refusal.js";
import type { ListenerContext } from "../context.js";
import { reasonFrom } from "./values.js";

/** Register the rejection modal's submission. */
export function registerRejectReasonView(app: App, ctx: ListenerContext): void {
  app.view(CALLBACK.rejectReason, async ({ ack, body, view }) => {
    const reason = reasonFrom(view.state.values);
    if (!reason.ok) {
      await ack({ response_action: "errors", errors: { [REASON_INPUT.blockId]: reason.error } });
      return;
    }
    const out = await ctx.service.decide({
      requestId: view.private_metadata,
      userId: body.user.id,
      decision: "rejected",
      reason: reason.value,
    });
    ctx.metrics.inc("image_check_actions_total", {
      action: "reject_reason",
      outcome: out.ok ? "decided" : out.code,
    });
    const note = out.ok ? null : refusalText(out.code, out.decision);
    if (note) await ack({ response_action: "update", view: renderNoticeModal("Nothing changed", note) });
    else await ack();
  });
}
