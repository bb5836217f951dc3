/**
 * Messages of `watch` (pure): the IT thread reply and the requester's DM when a re-check of an
 * approved digest found something new, revoked the approval, or the approval nears its expiry.
 * Every untrusted part (references, finding titles from registry data, reasons) is escaped here.
 */
import { clip, code, escapeSlack } from "../escape.js";
import { fallback, type Message, mention, section, slackDate } from "./blocks.js";

/** One change as the message lists it (from `watch.changed`'s evidence). */
export interface WatchChangeLine {
  id: string;
  severity: string;
  title: string;
}

/** What the watch messages say. */
export interface WatchNotice {
  event: "changed" | "revoked" | "expiring";
  reference: string;
  digest: string;
  /** The requester (Slack user id, or a CLI user name). */
  requestedBy: string;
  changes: WatchChangeLine[];
  /** When the approval expires (for `expiring`). */
  expiresAt: string | null;
  /** The new request IT is asked to decide (for `revoked`). */
  reopenedRequestId?: string | null;
}

/** At most this many changes are listed; the rest are counted. */
const MAX_LINES = 10;

function changeLines(changes: readonly WatchChangeLine[]): string {
  const shown = changes
    .slice(0, MAX_LINES)
    .map((c) => `• ${code(c.id)} (${escapeSlack(c.severity)}): ${clip(escapeSlack(c.title), 200)}`);
  if (changes.length > MAX_LINES) shown.push(`…and ${changes.length - MAX_LINES} more`);
  return shown.join("\n");
}

function short(digest: string): string {
  return code(digest.replace(/^sha256:/, "").slice(0, 12));
}

/** The reply in the IT thread of the approval. */
export function renderWatchThread(n: WatchNotice): Message {
  const ref = code(n.reference);
  if (n.event === "expiring") {
    const when = n.expiresAt ? slackDate(n.expiresAt, "{date_short_pretty}") : "soon";
    return {
      text: fallback(
        `Approval of ${escapeSlack(n.reference)} expires ${n.expiresAt?.slice(0, 10) ?? "soon"}`,
      ),
      blocks: [
        section(`:hourglass_flowing_sand: The approval of ${ref} (${short(n.digest)}) expires ${when}.`),
      ],
    };
  }
  const lead =
    n.event === "revoked"
      ? `:no_entry: *Approval revoked* by watch: a re-check of ${ref} (${short(n.digest)}) found what the approval did not see. The request is open again for IT.`
      : `:eyes: *Needs another look*: a re-check of ${ref} (${short(n.digest)}) found what the approval did not see. The approval stands.`;
  return {
    text: fallback(
      `${n.event === "revoked" ? "Approval revoked" : "Needs another look"}: ${escapeSlack(n.reference)}`,
    ),
    blocks: [section(lead), section(changeLines(n.changes))],
  };
}

/** The direct message to the requester. */
export function renderWatchDm(n: WatchNotice): Message {
  const ref = code(n.reference);
  const lead =
    n.event === "revoked"
      ? `Your approval for ${ref} was *revoked*: a re-check found what IT did not see when approving it. IT has been asked to look again; until then, do not deploy ${short(n.digest)}.`
      : n.event === "expiring"
        ? `Your approval for ${ref} expires ${n.expiresAt ? slackDate(n.expiresAt, "{date_short_pretty}") : "soon"}.`
        : `A re-check of ${ref} found what IT did not see when approving it. The approval stands; IT was told.`;
  return {
    text: fallback(`image-check: ${escapeSlack(n.reference)} ${n.event}`),
    blocks: [
      section(`${mention(n.requestedBy)} ${lead}`),
      ...(n.changes.length ? [section(changeLines(n.changes))] : []),
    ],
  };
}
