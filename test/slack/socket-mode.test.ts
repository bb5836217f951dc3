import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buttonsOf, type Harness, itMessage, startHarness } from "../support/slack-harness.js";
import { blockActionPayload, slashCommandFields } from "../support/slack-requests.js";

describe("the Slack app in Socket Mode", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { SLACK_APP_TOKEN: "xapp-1-socket-test" } });
    await h.fake.socket.connected();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("connects with the app token and still serves /healthz", async () => {
    const open = h.fake.ok("apps.connections.open");
    expect(open).toHaveLength(1);
    expect(open[0]!.token).toBe("xapp-1-socket-test");
    const health = await fetch(`${h.target.baseUrl}/healthz`);
    expect(await health.json()).toMatchObject({ status: "ok", mode: "socket" });
    // Slack's requests come over the socket only: nothing answers /slack/events.
    expect((await fetch(`${h.target.baseUrl}/slack/events`, { method: "POST" })).status).toBe(404);
  });

  it("answers a slash command over the socket and routes the request to IT, and a click decides it", async () => {
    const ack = await h.fake.socket.send(
      "slash_commands",
      slashCommandFields({
        text: "team/socket-app:1 needed for CI",
        userId: "UREQUESTER",
        responseUrl: h.fake.responseUrl(),
      }),
    );
    expect(ack).toMatchObject({ response_type: "ephemeral" });
    expect(JSON.stringify(ack)).toContain("Checking");
    const post = await itMessage(h, "team/socket-app");
    const requestId = buttonsOf(post.body)[0]!.value;

    await h.fake.socket.send(
      "interactive",
      blockActionPayload({
        actionId: "image_check.approve",
        value: requestId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      }),
    );
    expect((await h.bot.store.getRequest(requestId))?.status).toBe("approved");
    await h.fake.until(
      () => h.fake.ok("chat.update").find((c) => JSON.stringify(c.body).includes(requestId)),
      "the IT update",
    );
  });
});
