/**
 * Every listener of the app, registered in one place.
 */
import type { App } from "@slack/bolt";
import { registerDecisionActions } from "./actions/decide.js";
import { registerRequestApprovalAction } from "./actions/request-approval.js";
import { registerImageCheckCommand } from "./commands/image-check.js";
import type { ListenerContext } from "./context.js";
import { registerDeliveryDedupe } from "./deliveries.js";
import { registerAppHomeOpened } from "./events/app-home-opened.js";
import { registerReasonView } from "./views/reason.js";
import { registerRejectReasonView } from "./views/reject-reason.js";

/** Register the dedupe of deliveries first, then the slash command, the buttons, the modals and the Home event. */
export function registerListeners(app: App, ctx: ListenerContext): void {
  registerDeliveryDedupe(app, ctx);
  registerImageCheckCommand(app, ctx);
  registerDecisionActions(app, ctx);
  registerRequestApprovalAction(app, ctx);
  registerReasonView(app, ctx);
  registerRejectReasonView(app, ctx);
  registerAppHomeOpened(app, ctx);
}
