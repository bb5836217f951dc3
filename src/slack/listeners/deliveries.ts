/**
 * Each Slack delivery is handled once. A request replayed with its signature, or retried by Slack
 * (`X-Slack-Retry-Num`) after we took it, is acked with an empty 200, which is what Slack expects,
 * and no listener runs: no second request, no second post. Registered before every listener; the
 * store remembers deliveries (src/store/slack.ts), so this holds across restarts and processes.
 * HTTP mode only: Socket Mode deliveries carry no signature.
 * https://docs.slack.dev/apis/events-api/#retries
 */
import { createHash } from "node:crypto";
import type { App } from "@slack/bolt";
import type { SlackDelivery } from "../../store/slack.js";
import type { ListenerContext } from "./context.js";

/** The context key under which the HTTP receiver hands the delivery to the middleware. */
export const DELIVERY_PROPERTY = "imageCheckDelivery";

/**
 * The delivery of a request whose signature Bolt verified (its `customPropertiesExtractor`), or
 * null without a signature header (Slack's unsigned ssl_check).
 */
export function deliveryOf(req: {
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
}): SlackDelivery | null {
  const signature = req.headers["x-slack-signature"];
  if (typeof signature !== "string") return null;
  return {
    signature,
    bodyHash: createHash("sha256").update(req.rawBody).digest("hex"),
    retry: req.headers["x-slack-retry-num"] !== undefined,
  };
}

/** Register the dedupe as global middleware (before the listeners). */
export function registerDeliveryDedupe(app: App, ctx: ListenerContext): void {
  app.use(async (args) => {
    const delivery = args.context[DELIVERY_PROPERTY] as SlackDelivery | null | undefined;
    if (!delivery || (await ctx.service.takeDelivery(delivery))) return args.next();
    ctx.metrics.inc("image_check_slack_requests_rejected_total", { reason: "duplicate" });
    if ("ack" in args && typeof args.ack === "function") await (args.ack as () => Promise<void>)();
  });
}
