import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buttonsOf,
  clickAndNote,
  command,
  type Harness,
  requestToIt,
  startHarness,
} from "../support/slack-harness.js";
import { sendClick, sendSubmission } from "../support/slack-requests.js";

const UNVERIFIED = /could not verify that you are an approver/i;

describe("the Slack app when Slack is slow to list the approver group", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.fake.usergroups.set("SAPPROVERS", ["UGROUPIE"]);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers in time that it could not verify the approver, changes nothing, and decides once Slack answered", async () => {
    const { requestId } = await requestToIt(h, "team/slow-groups:1");
    await h.bot.idle();
    const auditBefore = (await h.bot.store.audit(requestId)).length;
    const slow = h.fake.hold("usergroups.users.list");

    // A group member's approve, reject and rejection form, and their `pending`, while Slack says nothing.
    const [approve, reject, submission, pending] = await Promise.all([
      clickAndNote(h, "image_check.approve", requestId, "UGROUPIE"),
      clickAndNote(h, "image_check.reject", requestId, "UGROUPIE"),
      sendSubmission(h.target, {
        callbackId: "image_check.reject_reason",
        privateMetadata: requestId,
        userId: "UGROUPIE",
        values: { reason: { reason: "no source link" } },
      }),
      command(h, "pending", "UGROUPIE"),
    ]);
    await slow.arrived;

    for (const click of [approve, reject]) {
      expect(click.reply.status).toBe(200);
      expect(click.note.body).toMatchObject({ response_type: "ephemeral", replace_original: false });
      expect(JSON.stringify(click.note.body)).toMatch(UNVERIFIED);
    }
    expect(submission.status).toBe(200);
    expect(submission.json).toMatchObject({ response_action: "update" });
    expect(JSON.stringify(submission.json)).toMatch(UNVERIFIED);
    const list = pending.ack.json as Record<string, unknown>;
    expect(JSON.stringify(list)).toContain("team/slow-groups");
    expect(JSON.stringify(list)).toMatch(UNVERIFIED);
    expect(buttonsOf(list)).toEqual([]);

    await h.bot.idle();
    expect((await h.bot.store.getRequest(requestId))?.status).toBe("pending");
    expect(await h.bot.store.audit(requestId)).toHaveLength(auditBefore);
    expect(h.fake.ok("views.open").filter((c) => JSON.stringify(c.body).includes(requestId))).toEqual([]);

    // Slack answers late; the answer is kept, and the next click is decided from it.
    slow.release();
    await h.fake.until(() => h.fake.ok("usergroups.users.list").length === 1, "the group look-up answered");
    const click = await sendClick(h.target, {
      actionId: "image_check.approve",
      value: requestId,
      userId: "UGROUPIE",
      responseUrl: h.fake.responseUrl(),
    });
    expect(click.status).toBe(200);
    expect((await h.bot.store.getRequest(requestId))?.status).toBe("approved");
    expect(h.fake.calls.filter((c) => c.method === "usergroups.users.list")).toHaveLength(1);
  });
});
