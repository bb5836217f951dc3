// Requests as Slack sends them to an app's request URL, signed the way Slack signs them:
// v0 HMAC-SHA256 over `v0:{timestamp}:{raw body}` (https://docs.slack.dev/authentication/verifying-requests-from-slack).
// Slash commands and interactivity payloads are form-encoded; Bolt reads them only when the
// Content-Type is exactly `application/x-www-form-urlencoded`.
import { createHmac } from "node:crypto";

/** Where and how to send: the app's base URL and its signing secret. */
export interface SlackTarget {
  baseUrl: string;
  signingSecret: string;
}

/** What the app answered. */
export interface AppReply {
  status: number;
  text: string;
  json: unknown;
}

/** Signature headers for `body` at `timestampSec`. */
export function signatureHeaders(secret: string, body: string, timestampSec: number): Record<string, string> {
  const signature = `v0=${createHmac("sha256", secret).update(`v0:${timestampSec}:${body}`).digest("hex")}`;
  return { "x-slack-request-timestamp": String(timestampSec), "x-slack-signature": signature };
}

/** Options for one signed POST: a forged secret, an old timestamp, extra headers. */
export interface SendOptions {
  secret?: string;
  timestampSec?: number;
  /**
   * The timestamp header exactly as sent (`Infinity`, `1.7e9`), signed the way Bolt 5.1.0 checks
   * it: over `String(Number(header))`.
   */
  timestampHeader?: string;
  /** More headers (`x-slack-retry-num`, …). */
  headers?: Record<string, string>;
}

/** POST a raw body to /slack/events, signed. */
export async function postSigned(
  target: SlackTarget,
  body: string,
  contentType: string,
  options: SendOptions = {},
): Promise<AppReply> {
  const ts = options.timestampSec ?? Math.floor(Date.now() / 1000);
  const signed =
    options.timestampHeader === undefined
      ? signatureHeaders(options.secret ?? target.signingSecret, body, ts)
      : {
          ...signatureHeaders(options.secret ?? target.signingSecret, body, Number(options.timestampHeader)),
          "x-slack-request-timestamp": options.timestampHeader,
        };
  const res = await fetch(`${target.baseUrl}/slack/events`, {
    method: "POST",
    headers: { "content-type": contentType, ...signed, ...options.headers },
    body,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, text, json };
}

/** The fields of a slash command invocation. */
export interface SlashCommand {
  text: string;
  userId: string;
  responseUrl: string;
  triggerId?: string;
  channelId?: string;
}

/** The form body of `/image-check <text>`. */
export function slashCommandBody(cmd: SlashCommand): string {
  return new URLSearchParams(slashCommandFields(cmd)).toString();
}

/** The fields of `/image-check <text>` (form fields over HTTP, a JSON payload in Socket Mode). */
export function slashCommandFields(cmd: SlashCommand): Record<string, string> {
  return {
    token: "legacy-verification-token",
    team_id: "T0FAKE",
    team_domain: "fake",
    channel_id: cmd.channelId ?? "C0USER",
    channel_name: "general",
    user_id: cmd.userId,
    user_name: cmd.userId.toLowerCase(),
    command: "/image-check",
    text: cmd.text,
    api_app_id: "A0APP",
    response_url: cmd.responseUrl,
    trigger_id: cmd.triggerId ?? `trigger-${cmd.userId}`,
  };
}

/** Send a slash command, signed. */
export function sendCommand(
  target: SlackTarget,
  cmd: SlashCommand,
  options?: SendOptions,
): Promise<AppReply> {
  return postSigned(target, slashCommandBody(cmd), "application/x-www-form-urlencoded", options);
}

/** One button click. */
export interface Click {
  actionId: string;
  value: string;
  userId: string;
  channelId?: string;
  messageTs?: string;
  responseUrl?: string;
  /** Set for clicks in the Home tab (no message). */
  view?: { id: string; type: "home" };
}

/** The form body of a `block_actions` payload for one button click. */
export function blockActionBody(click: Click): string {
  return new URLSearchParams({ payload: JSON.stringify(blockActionPayload(click)) }).toString();
}

/** The `block_actions` payload of one button click. */
export function blockActionPayload(click: Click): Record<string, unknown> {
  return {
    type: "block_actions",
    team: { id: "T0FAKE", domain: "fake" },
    user: { id: click.userId, username: click.userId.toLowerCase(), team_id: "T0FAKE" },
    api_app_id: "A0APP",
    token: "legacy-verification-token",
    trigger_id: `trigger-${click.userId}-${click.actionId}`,
    ...(click.view
      ? { container: { type: "view", view_id: click.view.id }, view: { id: click.view.id, type: "home" } }
      : {
          container: {
            type: "message",
            message_ts: click.messageTs ?? "1.1",
            channel_id: click.channelId ?? "C0IT",
            is_ephemeral: false,
          },
          channel: { id: click.channelId ?? "C0IT", name: "it-approvals" },
          message: { ts: click.messageTs ?? "1.1", type: "message", text: "", blocks: [] },
          response_url: click.responseUrl,
        }),
    actions: [
      {
        type: "button",
        action_id: click.actionId,
        block_id: "b",
        value: click.value,
        action_ts: "1700000000.000001",
      },
    ],
  };
}

/** Send a button click, signed. */
export function sendClick(
  target: SlackTarget,
  click: Parameters<typeof blockActionBody>[0],
  options?: SendOptions,
) {
  return postSigned(target, blockActionBody(click), "application/x-www-form-urlencoded", options);
}

/** The form body of a `view_submission` with plain-text inputs (block id -> action id -> value). */
export function viewSubmissionBody(submit: {
  callbackId: string;
  privateMetadata: string;
  userId: string;
  values: Record<string, Record<string, string>>;
}): string {
  const values: Record<string, Record<string, { type: string; value: string }>> = {};
  for (const [blockId, inputs] of Object.entries(submit.values)) {
    values[blockId] = {};
    for (const [actionId, value] of Object.entries(inputs))
      values[blockId][actionId] = { type: "plain_text_input", value };
  }
  const payload = {
    type: "view_submission",
    team: { id: "T0FAKE", domain: "fake" },
    user: { id: submit.userId, username: submit.userId.toLowerCase(), team_id: "T0FAKE" },
    api_app_id: "A0APP",
    token: "legacy-verification-token",
    trigger_id: `trigger-${submit.userId}-submit`,
    view: {
      id: "VMODAL",
      type: "modal",
      callback_id: submit.callbackId,
      private_metadata: submit.privateMetadata,
      state: { values },
      hash: "h",
    },
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** Submit a modal, signed. */
export function sendSubmission(
  target: SlackTarget,
  submit: Parameters<typeof viewSubmissionBody>[0],
  options?: SendOptions,
) {
  return postSigned(target, viewSubmissionBody(submit), "application/x-www-form-urlencoded", options);
}

/** Send an Events API callback (JSON), signed. */
export function sendEvent(target: SlackTarget, event: Record<string, unknown>, options?: SendOptions) {
  const body = JSON.stringify({
    token: "legacy-verification-token",
    team_id: "T0FAKE",
    api_app_id: "A0APP",
    type: "event_callback",
    event_id: `Ev${Math.random().toString(36).slice(2, 10)}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: "T0FAKE", user_id: "UBOT", is_bot: true }],
    event,
  });
  return postSigned(target, body, "application/json", options);
}
