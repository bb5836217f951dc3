/**
 * `/image-check help`. Pure.
 */
import { COMMAND } from "../ids.js";
import { context, type Message, section } from "./blocks.js";

/** The usage of the slash command. */
export function renderHelp(): Message {
  const lines = [
    `*${COMMAND} REF [reason]* — check an image; if it is not a pass, ask IT to approve it (with your reason).`,
    `*${COMMAND} status REF* — the decision in force for what REF resolves to, and its latest report.`,
    `*${COMMAND} history REPO* — every decision on a repository, newest first.`,
    `*${COMMAND} pending* — requests waiting for IT (approvers can decide from there).`,
    `*${COMMAND} help* — this message.`,
  ];
  return {
    text: `${COMMAND}: check a container image before you use it`,
    blocks: [
      section(`*${COMMAND}*: check a container image before you use it.\n\n${lines.join("\n")}`),
      section(
        "Examples:\n`/image-check python:3.12-slim build the docs`\n`/image-check status nginx:1.27`\n`/image-check history docker.io/library/nginx`",
      ),
      context("Approvals bind to the image digest, not the tag, and expire after the policy's `expireDays`."),
    ],
  };
}
