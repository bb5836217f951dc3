/**
 * The two modals: the requester's reason, and the approver's reason for a rejection. Pure.
 * https://docs.slack.dev/reference/views/modal-views
 */
import type { RequestRecord } from "../../store/api.js";
import { code, escapeSlack } from "../escape.js";
import { CALLBACK, REASON_INPUT } from "../ids.js";
import { type Block, LIMITS, mention, plain, section, type View } from "./blocks.js";

/** The longest reason accepted: a sentence or two, it is shown in the IT message. */
export const REASON_MAX = 500;

function reasonInput(label: string, placeholder: string): Block {
  return {
    type: "input",
    block_id: REASON_INPUT.blockId,
    label: plain(label, LIMITS.plainText),
    element: {
      type: "plain_text_input",
      action_id: REASON_INPUT.actionId,
      multiline: true,
      min_length: 3,
      max_length: REASON_MAX,
      placeholder: plain(placeholder, LIMITS.plainText),
    },
  };
}

/** Ask the requester why they need the image; `private_metadata` carries the request id only. */
export function renderReasonModal(request: RequestRecord): View {
  return {
    type: "modal",
    callback_id: CALLBACK.reason,
    private_metadata: request.id,
    title: plain("Request approval", LIMITS.modalTitle),
    submit: plain("Send to IT", LIMITS.modalTitle),
    close: plain("Cancel", LIMITS.modalTitle),
    blocks: [
      section(`IT will review ${code(request.reference)}. Tell them what you need it for.`),
      reasonInput("Why do you need this image?", "e.g. the build of the docs site needs this Python version"),
    ],
  };
}

/** Ask the approver why they reject; the decision is written only when this is submitted. */
export function renderRejectModal(request: RequestRecord): View {
  const reason = request.reason ? escapeSlack(request.reason) : "_none given_";
  return {
    type: "modal",
    callback_id: CALLBACK.rejectReason,
    private_metadata: request.id,
    title: plain("Reject request", LIMITS.modalTitle),
    submit: plain("Reject", LIMITS.modalTitle),
    close: plain("Cancel", LIMITS.modalTitle),
    blocks: [
      section(
        `Reject ${code(request.reference)} for ${mention(request.requestedBy)}?\n*Their reason:* ${reason}`,
      ),
      reasonInput(
        "Why is it rejected?",
        "e.g. runs as root and has no source; use the official image instead",
      ),
    ],
  };
}

/** A modal that only says something (what replaces a form whose submission changed nothing); `text` is escaped mrkdwn. */
export function renderNoticeModal(title: string, text: string): View {
  return {
    type: "modal",
    title: plain(title, LIMITS.modalTitle),
    close: plain("Close", LIMITS.modalTitle),
    blocks: [section(text)],
  };
}
