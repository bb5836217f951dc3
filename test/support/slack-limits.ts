// Assertions over what the app sends to Slack: Block Kit size limits, and that no control sequence
// from untrusted text survived (https://docs.slack.dev/messaging/formatting-message-text#escaping).
import { expect } from "vitest";
import type { Block } from "../../src/slack/render/blocks.js";

/** Control sequences that would ping people or disguise a link if they reached Slack unescaped. */
export const LIVE_SEQUENCES = [
  "<!channel>",
  "<!here>",
  "<@U123>",
  "<!subteam^S1>",
  "<https://evil.example",
  "|docs>",
];

/** Every string value anywhere in `value`. */
export function allStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const v of value) allStrings(v, out);
  else if (value && typeof value === "object") for (const v of Object.values(value)) allStrings(v, out);
  return out;
}

/** No live control sequence in any string, and nothing turns mention parsing on. */
export function assertInert(value: unknown): void {
  for (const s of allStrings(value)) {
    for (const seq of LIVE_SEQUENCES)
      expect(s, `live sequence ${seq} in ${JSON.stringify(s)}`).not.toContain(seq);
  }
  const json = JSON.stringify(value);
  expect(json).not.toContain('"link_names"');
  expect(json).not.toMatch(/"parse":\s*"full"/);
}

/** Slack's block limits: count, section/field/header/button/context sizes. */
export function assertWithinLimits(blocks: Block[], maxBlocks: number): void {
  expect(blocks.length).toBeLessThanOrEqual(maxBlocks);
  for (const block of blocks) {
    const b = block as unknown as Record<string, unknown>;
    const text = (b.text as { text?: string } | undefined)?.text;
    if (block.type === "section") {
      if (text !== undefined) expect(text.length).toBeLessThanOrEqual(3000);
      for (const f of (b.fields as { text: string }[] | undefined) ?? [])
        expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    if (block.type === "header" && text !== undefined) expect(text.length).toBeLessThanOrEqual(150);
    if (block.type === "context") expect((b.elements as unknown[]).length).toBeLessThanOrEqual(10);
    if (block.type === "actions") {
      for (const e of b.elements as { text: { text: string }; value?: string }[]) {
        expect(e.text.text.length).toBeLessThanOrEqual(75);
        expect((e.value ?? "").length).toBeLessThanOrEqual(2000);
      }
    }
  }
}
