/**
 * What the text after `/image-check` asks for. Pure: the listener turns the result into a reply.
 */
import { isCoded, oneLine } from "../../../errors.js";
import { parseReference } from "../../../reference/parse.js";
import type { ImageReference } from "../../../reference/types.js";
import { REASON_MAX } from "../../render/modals.js";

/** A parsed command. */
export type ParsedCommand =
  | { kind: "help" }
  | { kind: "pending" }
  | { kind: "status"; reference: ImageReference }
  | { kind: "history"; reference: ImageReference }
  | { kind: "check"; reference: ImageReference; reason: string | null }
  /** Not understood; `message` is one line for the user (not yet escaped). */
  | { kind: "usage"; message: string };

/** Parse the text of the slash command. */
export function parseCommandText(text: string): ParsedCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (!first || first === "help" || first === "-h" || first === "--help") return { kind: "help" };
  const sub = first.toLowerCase();
  if (sub === "pending") return rest.length === 0 ? { kind: "pending" } : usage("pending takes no arguments");
  if (sub === "status" || sub === "history") {
    if (rest.length !== 1)
      return usage(
        `${sub} needs exactly one ${sub === "status" ? "image reference" : "repository"}, e.g. \`/image-check ${sub} nginx${sub === "status" ? ":1.27" : ""}\``,
      );
    const reference = parse(rest[0]!);
    return "message" in reference ? reference : { kind: sub, reference };
  }
  const reference = parse(first);
  if ("message" in reference) return reference;
  // The reason as typed (spacing and line breaks kept), everything after the reference.
  const reason = text.trim().slice(first.length).trim();
  return { kind: "check", reference, reason: reason ? reason.slice(0, REASON_MAX) : null };
}

function parse(text: string): ImageReference | { kind: "usage"; message: string } {
  try {
    return parseReference(text);
  } catch (err) {
    if (isCoded(err)) return usage(`not an image reference: ${oneLine(err)}`);
    throw err;
  }
}

function usage(message: string): { kind: "usage"; message: string } {
  return { kind: "usage", message };
}
