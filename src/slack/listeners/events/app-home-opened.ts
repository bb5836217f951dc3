/**
 * `app_home_opened`: Bolt acknowledges events itself; the listener only queues the Home refresh,
 * which the worker publishes (and retries when Slack is busy).
 */
import type { App } from "@slack/bolt";
import type { ListenerContext } from "../context.js";

/** Register the Home tab refresh. */
export function registerAppHomeOpened(app: App, ctx: ListenerContext): void {
  app.event("app_home_opened", async ({ event }) => {
    if (event.tab !== "home") return;
    await ctx.service.refreshHome(event.user);
  });
}
