/**
 * `/image-check`: queries are answered in the ack; a check is written (request + job, one
 * transaction) before the ack says "checking…", and the worker posts the report.
 */
import type { App, RespondArguments } from "@slack/bolt";
import { escapeSlack } from "../../escape.js";
import { COMMAND } from "../../ids.js";
import type { Message } from "../../render/blocks.js";
import { renderHelp } from "../../render/help.js";
import { renderHistory } from "../../render/history.js";
import { renderPending } from "../../render/pending.js";
import { renderChecking, renderInFlightLimit, renderNote } from "../../render/report.js";
import { renderStatus } from "../../render/status.js";
import type { ListenerContext } from "../context.js";
import { parseCommandText } from "./parse.js";

/** An ephemeral reply (only the person who typed the command sees it). */
function ephemeral(m: Message): RespondArguments {
  return { response_type: "ephemeral", text: m.text, blocks: m.blocks };
}

/** Register the slash command. */
export function registerImageCheckCommand(app: App, ctx: ListenerContext): void {
  app.command(COMMAND, async ({ command, ack }) => {
    const parsed = parseCommandText(command.text ?? "");
    ctx.metrics.inc("image_check_slash_commands_total", { subcommand: parsed.kind });
    try {
      switch (parsed.kind) {
        case "help":
          return await ack(ephemeral(renderHelp()));
        case "usage":
          return await ack(
            ephemeral(renderNote(`:warning: ${escapeSlack(parsed.message)}\nTry \`${COMMAND} help\`.`)),
          );
        case "status":
          return await ack(
            ephemeral(renderStatus(parsed.reference.original, await ctx.service.status(parsed.reference))),
          );
        case "history": {
          const repository = `${parsed.reference.registry}/${parsed.reference.repository}`;
          return await ack(ephemeral(renderHistory(repository, await ctx.service.history(repository))));
        }
        case "pending": {
          const approver = await ctx.service.isApprover(command.user_id);
          const viewer = {
            userId: command.user_id,
            isApprover: approver === true,
            unverified: approver === null,
          };
          return await ack(ephemeral(renderPending(await ctx.service.pending(), viewer)));
        }
        case "check": {
          // Written first: once Slack sees the ack, the request and its check job are on disk.
          const submitted = await ctx.service.submitCheck({
            reference: parsed.reference,
            reason: parsed.reason,
            userId: command.user_id,
            channelId: command.channel_id ?? null,
            responseUrl: command.response_url ?? null,
          });
          if (!submitted.ok)
            return await ack(
              ephemeral(renderInFlightLimit(parsed.reference.original, submitted.inFlight, submitted.limit)),
            );
          return await ack(ephemeral(renderChecking(parsed.reference.original)));
        }
      }
    } catch (err) {
      ctx.log("error", `${COMMAND} ${parsed.kind} failed: ${(err as Error).message}`);
      await ack(
        ephemeral(
          renderNote(
            ":warning: Something went wrong on our side; nothing was recorded. Try again in a minute.",
          ),
        ),
      );
    }
  });
}
