/**
 * Slack identifiers of the app, named once: the contract's action ids (../shared/CONTRACT.md,
 * "Slack") and the app's own callback ids and job kinds.
 */

/** The slash command. */
export const COMMAND = "/image-check";

/** Action ids of buttons. The approve/reject ids are part of the public contract. */
export const ACTION = {
  approve: "image_check.approve",
  reject: "image_check.reject",
  /** The requester's "Request approval…" button, shown when no reason was typed. */
  requestApproval: "image_check.request_approval",
} as const;

/** Callback ids of modals. */
export const CALLBACK = {
  /** The requester's reason, asked when none was typed. */
  reason: "image_check.reason",
  /** The approver's reason for a rejection. */
  rejectReason: "image_check.reject_reason",
} as const;

/** Block and action ids of the reason input in both modals. */
export const REASON_INPUT = { blockId: "reason", actionId: "reason" } as const;

/**
 * Event types of the metadata the app attaches to its messages, so it can find them again
 * (https://docs.slack.dev/messaging/message-metadata). The IT channel's approval request carries
 * `{ request_id }`.
 */
export const METADATA = {
  itRequest: "image_check_request",
  /** The requester's decision DM: `{ request_id, decision_id }`. */
  decisionDm: "image_check_decision",
} as const;

/** Kinds of the worker jobs that talk to Slack, so a failed post is retried and never lost. */
export const JOB = {
  /** After a check: auto-approve, say "already approved", or route to IT; then answer the requester. */
  result: "slack.result",
  /** Post the approval request to the IT channel. */
  itRequest: "slack.it-request",
  /** Update the IT message after a decision. */
  itDecided: "slack.it-decided",
  /** Tell the requester about the decision (DM). */
  notify: "slack.notify",
  /** Publish a user's App Home tab. */
  home: "slack.home",
  /** Tell IT, in the thread of the approval's request, what a re-check (`watch`) found. */
  watchThread: "slack.watch-thread",
  /** Tell the requester what a re-check found. */
  watchDm: "slack.watch-dm",
  /** Post serve's scheduled audit of what runs to the IT channel. */
  audit: "slack.audit",
} as const;
