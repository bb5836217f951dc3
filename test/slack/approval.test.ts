import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buttonsOf, type Harness, IT_CHANNEL, requestToIt, startHarness } from "../support/slack-harness.js";
import { assertInert } from "../support/slack-limits.js";
import { sendClick, sendSubmission } from "../support/slack-requests.js";

describe("the Slack approval flow", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("when an approver approves", () => {
    it("stores the decision, updates the IT message and DMs the requester", async () => {
      const { ack, requestId, post } = await requestToIt(h, "team/approve-me:1");
      expect(ack.status).toBe(200);
      expect(ack.json).toMatchObject({ response_type: "ephemeral" });
      expect(ack.text).toContain("Checking");
      const buttons = buttonsOf(post.body);
      expect(buttons).toEqual([
        { actionId: "image_check.approve", value: requestId },
        { actionId: "image_check.reject", value: requestId },
      ]);
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("pending");
      const answer = await h.fake.until(
        () =>
          h.fake.responses.find(
            (r) => JSON.stringify(r.body).includes("approve-me") && r.body.replace_original === true,
          ),
        "the report replacing the ephemeral",
      );
      expect(JSON.stringify(answer.body)).toContain("Sent to IT");
      assertInert(answer.body);

      const ts = String(post.response?.ts);
      const click = await sendClick(h.target, {
        actionId: "image_check.approve",
        value: requestId,
        userId: "UAPPROVER",
        messageTs: ts,
        responseUrl: h.fake.responseUrl(),
      });
      expect(click.status).toBe(200);
      // Written before the ack: the decision is there as soon as the click is answered.
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("approved");

      const updated = await h.fake.until(
        () => h.fake.ok("chat.update").find((c) => JSON.stringify(c.body).includes(requestId)),
        "the IT message update",
      );
      expect(updated.body).toMatchObject({ channel: IT_CHANNEL, ts });
      expect(buttonsOf(updated.body)).toEqual([]);
      expect(JSON.stringify(updated.body)).toContain("*Approved* by <@UAPPROVER>");
      expect(JSON.stringify(updated.body)).toContain("valid until");
      const dm = await h.fake.until(
        () =>
          h.fake
            .ok("chat.postMessage")
            .find((c) => c.body.channel === "UREQUESTER" && JSON.stringify(c.body).includes("approve-me")),
        "the DM to the requester",
      );
      expect(JSON.stringify(dm.body)).toContain("IT approved");
    });
  });

  describe("when an approver rejects", () => {
    it("asks for a reason in a modal, then stores the rejection, updates the message and DMs the requester", async () => {
      const { requestId } = await requestToIt(h, "team/reject-me:1");
      const click = await sendClick(h.target, {
        actionId: "image_check.reject",
        value: requestId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      expect(click.status).toBe(200);
      const modal = await h.fake.until(
        () =>
          h.fake
            .ok("views.open")
            .find((c) => (c.body.view as { private_metadata?: string }).private_metadata === requestId),
        "the reject modal",
      );
      expect(modal.body.trigger_id).toBe("trigger-UAPPROVER-image_check.reject");
      expect((modal.body.view as { callback_id: string }).callback_id).toBe("image_check.reject_reason");
      // Nothing is decided until the modal is submitted.
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("pending");

      const submit = await sendSubmission(h.target, {
        callbackId: "image_check.reject_reason",
        privateMetadata: requestId,
        userId: "UAPPROVER",
        values: { reason: { reason: "runs as root <!channel>" } },
      });
      expect(submit.status).toBe(200);
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("rejected");
      const decision = await h.bot.store.currentDecision(
        "docker.io/team/reject-me",
        (await h.bot.store.getRequest(requestId))!.digest!,
        new Date(),
      );
      expect(decision).toMatchObject({
        decision: "rejected",
        decidedBy: "UAPPROVER",
        reason: "runs as root <!channel>",
      });

      const updated = await h.fake.until(
        () => h.fake.ok("chat.update").find((c) => JSON.stringify(c.body).includes(requestId)),
        "the IT message update",
      );
      expect(JSON.stringify(updated.body)).toContain("*Rejected* by <@UAPPROVER>");
      expect(JSON.stringify(updated.body)).toContain("runs as root &lt;!channel&gt;");
      assertInert(updated.body);
      const dm = await h.fake.until(
        () =>
          h.fake
            .ok("chat.postMessage")
            .find((c) => c.body.channel === "UREQUESTER" && JSON.stringify(c.body).includes("reject-me")),
        "the DM to the requester",
      );
      expect(JSON.stringify(dm.body)).toContain("IT rejected");
    });
  });
});
