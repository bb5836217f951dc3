/**
 * The adapter between the app and Slack's Web API: the few calls the app makes, counted for
 * /metrics, with every failure turned into a SlackApiError whose code tells the worker whether to
 * retry (and after how long: a 429's Retry-After). No @slack/web-api type leaks past this file.
 * https://docs.slack.dev/apis/web-api/rate-limits
 */
import type { webApi } from "@slack/bolt";
import { CodedError } from "../errors.js";
import type { Metrics } from "./metrics.js";
import type { Message, View } from "./render/blocks.js";

/**
 * Codes of Slack failures. The first four are the worker's temporary codes (the job is retried);
 * SLACK_ERROR (Slack refused the call: channel_not_found, invalid_auth, …) and EXPIRED_URL are not.
 */
export type SlackApiErrorCode =
  | "TOO_MANY_REQUESTS"
  | "SERVER_ERROR"
  | "NETWORK"
  | "TIMEOUT"
  | "SLACK_ERROR"
  | "EXPIRED_URL";

/** A failed Slack call. `retryAfterMs` is set for 429s; `slackError` is Slack's error string. */
export class SlackApiError extends CodedError<SlackApiErrorCode> {
  constructor(
    code: SlackApiErrorCode,
    message: string,
    readonly retryAfterMs?: number,
    readonly slackError?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Slack errors that are Slack's own trouble, worth another try later. */
const TEMPORARY_SLACK_ERRORS = new Set([
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
  "ratelimited",
]);

/** Options of the Web API client, named once. */
export const WEB_CLIENT_DEFAULTS = {
  /**
   * A 429 is not waited out inside the client (it would pause every call of this process): it is
   * thrown with its Retry-After, and the worker reschedules the job that long. Listeners that hit
   * one answer at once and let the user click again.
   */
  rejectRateLimitedCalls: true,
  /** Network errors and 5xx: two quick retries in-process; the worker's backoff covers longer outages. */
  retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 1000 },
  /** A Web API call that takes longer than this is abandoned (and the job retried). */
  timeout: 10_000,
};

/** What `respond` sends to a response_url. */
export interface ResponseUrlMessage extends Message {
  replaceOriginal: boolean;
}

/**
 * Machine-readable metadata carried by a posted message, invisible to people
 * (https://docs.slack.dev/messaging/message-metadata): an event type and a flat payload.
 */
export interface MessageMetadata {
  eventType: string;
  payload: Record<string, string>;
}

/** The Slack calls the app makes. */
export interface SlackApi {
  /**
   * Post to a channel (or to a user id: their DM), with metadata when given, as a reply in the
   * thread of `threadTs` when given. Returns where it landed.
   */
  postMessage(
    channel: string,
    message: Message,
    metadata?: MessageMetadata,
    threadTs?: string,
  ): Promise<{ channel: string; ts: string }>;
  /**
   * The newest of the channel's last `limit` messages whose metadata has `eventType` and every
   * field of `payload`, or null (conversations.history with include_all_metadata; needs
   * channels:history, groups:history for a private channel, im:history for a DM).
   */
  findPosted(
    channel: string,
    metadata: MessageMetadata,
    limit: number,
  ): Promise<{ channel: string; ts: string } | null>;
  /** The id of the app's DM channel with `userId` (conversations.open; needs im:write). */
  dmChannel(userId: string): Promise<string>;
  /** Show a message to one user in a channel. */
  postEphemeral(channel: string, user: string, message: Message): Promise<void>;
  /** Replace a message the app posted. */
  update(channel: string, ts: string, message: Message): Promise<void>;
  /** Open a modal with a fresh trigger id (valid 3 s). */
  openView(triggerId: string, view: View): Promise<void>;
  /** Publish a user's Home tab. */
  publishHome(userId: string, view: View): Promise<void>;
  /** Members of a user group. */
  usergroupMembers(groupId: string): Promise<string[]>;
  /** Answer through a response_url (ephemeral; replacing the original when asked). */
  respond(responseUrl: string, message: ResponseUrlMessage): Promise<void>;
}

/** The adapter over Bolt's WebClient; `fetchFn` posts to response_urls. */
export function createSlackApi(
  client: webApi.WebClient,
  metrics: Metrics,
  fetchFn: typeof fetch = fetch,
  timeoutMs = WEB_CLIENT_DEFAULTS.timeout,
): SlackApi {
  async function call<T>(method: string, run: () => Promise<T>): Promise<T> {
    metrics.inc("image_check_slack_api_calls_total", { method });
    try {
      return await run();
    } catch (err) {
      const mapped = mapError(method, err);
      metrics.inc("image_check_slack_api_errors_total", { method, error: mapped.slackError ?? mapped.code });
      throw mapped;
    }
  }
  // Slack renders fallback `text` as mrkdwn too; nothing the app posts asks Slack to parse names.
  const common = { unfurl_links: false, unfurl_media: false } as const;
  return {
    postMessage: (channel, m, metadata, threadTs) =>
      call("chat.postMessage", async () => {
        const r = await client.chat.postMessage({
          channel,
          text: m.text,
          blocks: m.blocks,
          ...common,
          ...(threadTs ? { thread_ts: threadTs } : {}),
          ...(metadata
            ? { metadata: { event_type: metadata.eventType, event_payload: metadata.payload } }
            : {}),
        });
        return { channel: String(r.channel ?? channel), ts: String(r.ts) };
      }),
    findPosted: (channel, metadata, limit) =>
      call("conversations.history", async () => {
        const r = await client.conversations.history({ channel, limit, include_all_metadata: true });
        const found = (r.messages ?? []).find((msg) => {
          const meta = msg.metadata as
            | { event_type?: string; event_payload?: Record<string, unknown> }
            | undefined;
          if (meta?.event_type !== metadata.eventType) return false;
          return Object.entries(metadata.payload).every(([k, v]) => meta.event_payload?.[k] === v);
        });
        return found?.ts ? { channel, ts: found.ts } : null;
      }),
    dmChannel: (userId) =>
      call("conversations.open", async () => {
        const r = await client.conversations.open({ users: userId });
        if (!r.channel?.id) throw new SlackApiError("SLACK_ERROR", "conversations.open: no channel id");
        return r.channel.id;
      }),
    postEphemeral: (channel, user, m) =>
      call("chat.postEphemeral", async () => {
        await client.chat.postEphemeral({ channel, user, text: m.text, blocks: m.blocks });
      }),
    update: (channel, ts, m) =>
      call("chat.update", async () => {
        await client.chat.update({ channel, ts, text: m.text, blocks: m.blocks });
      }),
    openView: (triggerId, view) =>
      call("views.open", async () => {
        await client.views.open({ trigger_id: triggerId, view });
      }),
    publishHome: (userId, view) =>
      call("views.publish", async () => {
        await client.views.publish({ user_id: userId, view });
      }),
    usergroupMembers: (groupId) =>
      call("usergroups.users.list", async () => {
        const r = await client.usergroups.users.list({ usergroup: groupId });
        return r.users ?? [];
      }),
    respond: (url, m) =>
      call("response_url", async () => {
        const res = await fetchFn(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            response_type: "ephemeral",
            replace_original: m.replaceOriginal,
            text: m.text,
            blocks: m.blocks,
          }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.text();
        if (res.status === 429) {
          const seconds = Number.parseInt(res.headers.get("retry-after") ?? "", 10);
          throw new SlackApiError(
            "TOO_MANY_REQUESTS",
            "response_url: rate limited",
            (Number.isFinite(seconds) ? seconds : 1) * 1000,
          );
        }
        // Slack answers 404 for a response_url used too often or older than 30 minutes.
        if (res.status === 404 || res.status === 410)
          throw new SlackApiError("EXPIRED_URL", `response_url: HTTP ${res.status}`);
        if (res.status >= 500) throw new SlackApiError("SERVER_ERROR", `response_url: HTTP ${res.status}`);
        if (res.status >= 400) throw new SlackApiError("SLACK_ERROR", `response_url: HTTP ${res.status}`);
      }),
  };
}

// Branches on the WebClient's documented error codes, never on message text.
function mapError(method: string, err: unknown): SlackApiError {
  if (err instanceof SlackApiError) return err;
  const e = err as {
    code?: string;
    retryAfter?: number;
    data?: { error?: string };
    statusCode?: number;
    name?: string;
  };
  switch (e?.code) {
    case "slack_webapi_rate_limited_error":
      return new SlackApiError(
        "TOO_MANY_REQUESTS",
        `${method}: rate limited`,
        (e.retryAfter ?? 1) * 1000,
        "ratelimited",
        { cause: err },
      );
    case "slack_webapi_platform_error": {
      const slackError = e.data?.error ?? "unknown_error";
      const code = TEMPORARY_SLACK_ERRORS.has(slackError) ? "SERVER_ERROR" : "SLACK_ERROR";
      return new SlackApiError(code, `${method}: ${slackError}`, undefined, slackError, { cause: err });
    }
    case "slack_webapi_http_error": {
      const status = e.statusCode ?? 0;
      return new SlackApiError(
        status >= 500 ? "SERVER_ERROR" : "SLACK_ERROR",
        `${method}: HTTP ${status}`,
        undefined,
        `http_${status}`,
        {
          cause: err,
        },
      );
    }
    case "slack_webapi_request_error":
      return new SlackApiError("NETWORK", `${method}: request failed`, undefined, undefined, { cause: err });
  }
  if (e?.name === "TimeoutError" || e?.name === "AbortError")
    return new SlackApiError("TIMEOUT", `${method}: no answer in time`, undefined, undefined, { cause: err });
  if (err instanceof TypeError)
    return new SlackApiError("NETWORK", `${method}: ${err.message}`, undefined, undefined, { cause: err });
  return new SlackApiError(
    "SLACK_ERROR",
    `${method}: ${err instanceof Error ? err.message : String(err)}`,
    undefined,
    undefined,
    { cause: err },
  );
}
