/**
 * What every listener gets: the service to write through, the Slack adapter for the few calls that
 * must happen right after the ack (a modal needs the 3-second trigger id), metrics and a logger.
 */
import type { Store } from "../../store/api.js";
import type { SlackApi } from "../api.js";
import type { Metrics } from "../metrics.js";
import type { Message } from "../render/blocks.js";
import { homeNotice } from "../render/home.js";
import type { SlackService } from "../service.js";

/** The listeners' dependencies. */
export interface ListenerContext {
  service: SlackService;
  store: Store;
  api: SlackApi;
  metrics: Metrics;
  log: (level: "warn" | "error", message: string) => void;
}

/** Where a click came from: a message (with its response_url) or the Home tab. */
export interface ClickOrigin {
  userId: string;
  responseUrl?: string;
  fromHome: boolean;
}

/**
 * Tell the clicker why nothing changed: ephemeral through the response_url under a message, or a
 * notice on their Home tab. Failures are logged: the state is already right, only the note is lost.
 */
export async function tellClicker(
  ctx: ListenerContext,
  origin: ClickOrigin,
  message: Message,
): Promise<void> {
  try {
    if (origin.fromHome || !origin.responseUrl)
      await ctx.service.refreshHome(origin.userId, homeNotice(message.text));
    else await ctx.api.respond(origin.responseUrl, { ...message, replaceOriginal: false });
  } catch (err) {
    ctx.log("warn", `could not tell ${origin.userId} why nothing changed: ${(err as Error).message}`);
  }
}

/** The origin of a block_actions payload. */
export function originOf(body: {
  user: { id: string };
  response_url?: string;
  container?: { type?: string };
  view?: { type?: string };
}): ClickOrigin {
  const fromHome = body.container?.type === "view" && body.view?.type === "home";
  return { userId: body.user.id, responseUrl: body.response_url, fromHome };
}
