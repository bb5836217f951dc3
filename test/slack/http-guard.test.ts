import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodyAcceptable, timestampAcceptable } from "../../src/slack/http-guard.js";

import { command, type Harness, startHarness } from "../support/slack-harness.js";
import { postSigned, slashCommandBody } from "../support/slack-requests.js";

const NOW = 1_700_000_000;

describe("timestampAcceptable", () => {
  it.each([
    ["now", String(NOW), true],
    ["five minutes ago", String(NOW - 300), true],
    ["five minutes ahead", String(NOW + 300), true],
    ["a second too old", String(NOW - 301), false],
    ["a second too far ahead", String(NOW + 301), false],
    ["Infinity", "Infinity", false],
    ["-Infinity", "-Infinity", false],
    ["NaN", "NaN", false],
    ["a decimal", `${NOW}.0`, false],
    ["an exponent", "1.7e9", false],
    ["hexadecimal", `0x${NOW.toString(16)}`, false],
    ["a sign", `+${NOW}`, false],
    ["spaces", ` ${NOW}`, false],
    ["empty", "", false],
    ["absent", undefined, false],
    ["repeated", [String(NOW), String(NOW)], false],
  ])("when the header is %s (%j), accepts it: %s", async (_what, header, ok) => {
    expect(timestampAcceptable(header, NOW)).toBe(ok);
  });
});

describe("bodyAcceptable", () => {
  const form = "application/x-www-form-urlencoded";
  it.each([
    ["a JSON object", "application/json", '{"type":"event_callback"}', true],
    ["JSON null", "application/json", "null", false],
    ["a JSON number", "application/json", "42", false],
    ["a JSON string", "application/json", '"text"', false],
    ["a JSON array", "application/json", "[{}]", false],
    ["malformed JSON", "application/json", "{", false],
    ["JSON null as text/plain", "text/plain", "null", false],
    ["a form", form, "command=%2Fimage-check&text=nginx", true],
    ["the ssl_check form", form, "ssl_check=1&token=x", true],
    ["a form whose payload is an object", form, "payload=%7B%22type%22%3A%22block_actions%22%7D", true],
    ["a form whose payload is null", form, "payload=null", false],
    ["a form whose payload is an array", form, "payload=%5B%5D", false],
    ["a form whose payload is not JSON", form, "payload=%7B", false],
  ])("when the body is %s (%s, %j), accepts it: %s", async (_what, type, body, ok) => {
    expect(bodyAcceptable(Buffer.from(body), type)).toBe(ok);
  });
});

describe("the Slack app's HTTP endpoint, in front of Bolt", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The bot still answers: /healthz and a real slash command. */
  async function stillServing(reference: string) {
    const health = await fetch(`${h.target.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    const { ack, answer } = await command(h, `${reference} still here`);
    expect(ack.status).toBe(200);
    await answer();
  }

  describe("when a signed body is not a JSON object", () => {
    it.each([
      ["null", "application/json", "null"],
      ["a number", "application/json", "42"],
      ["a string", "application/json", '"hello"'],
      ["an array", "application/json", "[null]"],
      ["null sent as text/plain", "text/plain", "null"],
      ["a form whose payload is null", "application/x-www-form-urlencoded", "payload=null"],
    ])("answers 400 to %s and keeps serving", async (what, type, body) => {
      const reply = await postSigned(h.target, body, type);
      expect(reply.status).toBe(400);
      await stillServing(`team/after-${what.replace(/\W+/g, "-")}:1`);
    });
  });

  describe("when a signed timestamp is not plain seconds", () => {
    const now = () => Math.floor(Date.now() / 1000);
    it.each([
      ["Infinity", () => "Infinity"],
      ["a decimal", () => `${now()}.0`],
      ["hexadecimal", () => `0x${now().toString(16)}`],
      ["an exponent", () => `${now()}e0`],
    ])("answers 401 to %s and writes nothing", async (what, header) => {
      await h.bot.idle();
      const calls = h.fake.calls.length;
      const repo = `team/ts-${what.replace(/\W+/g, "-").toLowerCase()}`;
      const body = slashCommandBody({
        text: `${repo}:1 please`,
        userId: "UREQUESTER",
        responseUrl: h.fake.responseUrl(),
      });
      const reply = await postSigned(h.target, body, "application/x-www-form-urlencoded", {
        timestampHeader: header(),
      });
      expect(reply.status).toBe(401);
      await h.bot.idle();
      expect((await h.bot.store.statusOf(`docker.io/${repo}`, { tag: "1" }, new Date())).request).toBeNull();
      expect(h.fake.calls).toHaveLength(calls);
    });
  });
});
