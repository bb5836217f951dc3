/**
 * The requester's reason modal: the reason is stored (with the job that routes the request to IT and
 * tells the requester) before the submission is acknowledged.
 */
import type { App } from "@slack/bolt";
import { CALLBACK, REASON_INPUT } from "../../ids.js";
import { renderNoticeModal } from "../../render/modals.js";
import { refusalText } from "../../render/refusal.js";
import type { ListenerContext } from "../context.js";
import { reasonFrom } from "./values.js";

/** Register the reason modal's submission. */
export function registerReasonView(app: App, ctx: ListenerContext): void {
  app.view(CALLBACK.reason, async ({ ack, body, view }) => {
    const reason = reasonFrom(view.state.values);
    if (!reason.ok) {
      await ack({ response_action: "errors", errors: { [REASON_INPUT.blockId]: reason.error } });
      return;
    }
    const out = await ctx.service.addReason(view.private_metadata, body.user.id, reason.value);
    ctx.metrics.inc("image_check_actions_total", { action: "reason", outcome: out.ok ? "stored" : out.code });
    if (out.ok) await ack();
    else
      await ack({
        response_action: "update",
        view: renderNoticeModal("Nothing changed", refusalText(out.code)),
      });
  });
}
