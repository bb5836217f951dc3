/**
 * The text side of `image-check pin`: which references to rewrite, the rewrite itself (only the
 * reference's own characters change, everything else on the line stays), and the unified diff
 * that shows it. Pure: resolving tags and writing files belong to the caller.
 */
import { parseReference } from "../reference/parse.js";
import { linesOf } from "./dockerfile.js";
import type { FoundReference } from "./types.js";

/** One replacement in a file's text. */
export interface Edit {
  offset: number;
  before: string;
  after: string;
}

/** What pin decided for one reference at one place. */
export type PinPlan =
  | { kind: "pin"; at: FoundReference; edit: Edit }
  | { kind: "pinned"; at: FoundReference }
  | { kind: "conflict"; at: FoundReference; pinned: string; tagDigest: string }
  | { kind: "not-literal"; at: FoundReference };

/**
 * Plan one found reference, given what its tag resolves to now. A reference already pinned to
 * what its tag resolves to is left alone (a second run changes nothing); one pinned elsewhere is a
 * conflict (`tag.digest-conflict`) for a reviewer, never rewritten; a digest without a tag has
 * nothing to compare.
 */
export function planPin(at: FoundReference, tagDigest: string | undefined): PinPlan {
  const ref = parseReference(at.reference);
  if (ref.digest) {
    if (!ref.tag || !tagDigest || tagDigest === ref.digest) return { kind: "pinned", at };
    return { kind: "conflict", at, pinned: ref.digest, tagDigest };
  }
  if (!at.literal || !tagDigest) return { kind: "not-literal", at };
  return {
    kind: "pin",
    at,
    edit: { offset: at.literal.offset, before: at.literal.text, after: `${at.literal.text}@${tagDigest}` },
  };
}

/** A planned edit that does not match the text it is meant to replace. */
export class EditMismatch extends Error {}

/**
 * Apply `edits` to `text`. The same edit planned twice (one ARG feeding two FROM lines) is applied
 * once. Throws EditMismatch when an edit's `before` is not at its offset (the file changed, or
 * edits overlap): then nothing may be written.
 */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  const unique = [...new Map(edits.map((e) => [`${e.offset}\u0000${e.before}`, e])).values()].sort(
    (a, b) => a.offset - b.offset,
  );
  let out = "";
  let last = 0;
  for (const e of unique) {
    if (e.offset < last || text.slice(e.offset, e.offset + e.before.length) !== e.before)
      throw new EditMismatch(`no "${e.before}" at offset ${e.offset}`);
    out += text.slice(last, e.offset) + e.after;
    last = e.offset + e.before.length;
  }
  return out + text.slice(last);
}

/** Lines of context around each change in the diff, as `diff -u` shows. */
const DIFF_CONTEXT = 3;

/**
 * A unified diff (`--- a/FILE`, `+++ b/FILE`, `@@` hunks) of `before` -> `after`, which have the
 * same number of lines (pin only ever changes lines in place). Empty when nothing changed.
 */
export function unifiedDiff(file: string, before: string, after: string): string {
  // The empty "line" after a final line break is not a line.
  const split = (text: string) => {
    const lines = linesOf(text).map((l) => l.text);
    if (lines.length > 1 && lines.at(-1) === "") lines.pop();
    return lines;
  };
  const a = split(before);
  const b = split(after);
  if (a.length !== b.length) throw new Error("unifiedDiff: pin changes lines in place only");
  const changed = a.flatMap((line, i) => (line === b[i] ? [] : [i]));
  if (changed.length === 0) return "";
  const out = [`--- a/${file}`, `+++ b/${file}`];
  let i = 0;
  while (i < changed.length) {
    const start = Math.max(0, changed[i]! - DIFF_CONTEXT);
    let end = Math.min(a.length - 1, changed[i]! + DIFF_CONTEXT);
    let j = i + 1;
    while (j < changed.length && changed[j]! - DIFF_CONTEXT <= end + 1) {
      end = Math.min(a.length - 1, changed[j]! + DIFF_CONTEXT);
      j++;
    }
    const count = end - start + 1;
    out.push(`@@ -${start + 1},${count} +${start + 1},${count} @@`);
    for (let k = start; k <= end; k++) {
      if (a[k] === b[k]) out.push(` ${a[k]}`);
      else out.push(`-${a[k]}`, `+${b[k]}`);
    }
    i = j;
  }
  return `${out.join("\n")}\n`;
}
