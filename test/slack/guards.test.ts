import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CodedError } from "../../src/errors.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { failedReport, HOSTILE, makeReport } from "../support/slack-fixtures.js";
import {
  clickAndNote,
  command,
  craftedReport,
  type Harness,
  requestToIt,
  startHarness,
} from "../support/slack-harness.js";
import { assertInert } from "../support/slack-limits.js";
import { postSigned, sendClick, sendSubmission, slashCommandBody } from "../support/slack-requests.js";

// Crafted reports by image name: hostile labels, a registry that fails, a check that cannot run.
const runner: CheckRunner = async ({ reference }) => {
  if (reference.includes("hostile"))
    return makeReport(reference, "review", { labels: { description: HOSTILE, "org.example.docs": HOSTILE } });
  if (reference.includes("unreachable"))
    return failedReport(reference, "NETWORK", `connect ECONNREFUSED 127.0.0.1:9 ${HOSTILE}`);
  if (reference.includes("broken"))
    throw new CodedError("MANIFEST_INVALID", "the registry sent a manifest that is not JSON");
  return craftedReport(reference);
};

describe("the Slack app's guards", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ runner });
    h.fake.usergroups.set("SAPPROVERS", ["UGROUPIE"]);
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("when someone who may not decide clicks", () => {
    it.each([
      ["a non-approver", "UNOBODY", "Only IT approvers"],
      ["the requester (an approver asking for themselves)", "UBOSS", "You asked for this image yourself"],
    ])("refuses %s with an ephemeral note and changes nothing", async (_who, userId, note) => {
      const { requestId } = await requestToIt(h, `team/refuse-${userId.toLowerCase()}:1`, "UBOSS");
      await h.bot.idle();
      const auditBefore = (await h.bot.store.audit(requestId)).length;
      const updatesBefore = h.fake.ok("chat.update").length;
      for (const action of ["image_check.approve", "image_check.reject"]) {
        const { reply, note: answer } = await clickAndNote(h, action, requestId, userId);
        expect(reply.status).toBe(200);
        expect(answer.body).toMatchObject({ response_type: "ephemeral", replace_original: false });
        expect(JSON.stringify(answer.body)).toContain(note);
      }
      await h.bot.idle();
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("pending");
      expect(await h.bot.store.audit(requestId)).toHaveLength(auditBefore);
      expect(h.fake.ok("chat.update")).toHaveLength(updatesBefore);
      expect(h.fake.ok("views.open").filter((c) => JSON.stringify(c.body).includes(requestId))).toHaveLength(
        0,
      );
    });
  });

  describe("when two decisions arrive at once", () => {
    it("stores exactly one for two approve clicks", async () => {
      const { requestId } = await requestToIt(h, "team/double-click:1");
      const replies = await Promise.all(
        ["UAPPROVER", "UAPPROVER", "UBOSS"].map((userId) =>
          sendClick(h.target, {
            actionId: "image_check.approve",
            value: requestId,
            userId,
            responseUrl: h.fake.responseUrl(),
          }),
        ),
      );
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      const digest = (await h.bot.store.getRequest(requestId))!.digest!;
      const decisions = (
        await h.bot.store.listDecisions({ repository: "docker.io/team/double-click", digest }, new Date())
      ).items;
      expect(decisions).toHaveLength(1);
      await h.fake.until(
        () => h.fake.responses.filter((r) => JSON.stringify(r.body).includes("already decided")).length === 2,
        "two notes saying the request was already decided",
      );
      await h.bot.idle();
      expect(
        h.fake
          .ok("chat.postMessage")
          .filter((c) => c.body.channel === "UREQUESTER" && JSON.stringify(c.body).includes("double-click")),
      ).toHaveLength(1);
    });

    it("stores exactly one for an approval racing a rejection", async () => {
      const { requestId } = await requestToIt(h, "team/race:1");
      const [approve, reject] = await Promise.all([
        sendClick(h.target, {
          actionId: "image_check.approve",
          value: requestId,
          userId: "UAPPROVER",
          responseUrl: h.fake.responseUrl(),
        }),
        sendSubmission(h.target, {
          callbackId: "image_check.reject_reason",
          privateMetadata: requestId,
          userId: "UBOSS",
          values: { reason: { reason: "no source link" } },
        }),
      ]);
      expect([approve.status, reject.status]).toEqual([200, 200]);
      const request = (await h.bot.store.getRequest(requestId))!;
      expect(["approved", "rejected"]).toContain(request.status);
      const decisions = (
        await h.bot.store.listDecisions(
          { repository: "docker.io/team/race", digest: request.digest! },
          new Date(),
        )
      ).items;
      expect(decisions).toHaveLength(1);
    });
  });

  describe("when a request is not signed by Slack", () => {
    const nowSec = () => Math.floor(Date.now() / 1000);
    it.each([
      ["a forged signature", () => ({ secret: "not-the-signing-secret" })],
      ["a five-minute-old signature", () => ({ timestampSec: nowSec() - 301 })],
      ["a signature from the future", () => ({ timestampSec: nowSec() + 302 })],
    ])("answers 401 to %s and writes nothing", async (_what, optionsAt) => {
      await h.bot.idle();
      const options = optionsAt();
      const before = {
        pending: (await h.bot.store.pendingRequests({ limit: 500 })).items.length,
        calls: h.fake.calls.length,
      };
      const body = slashCommandBody({
        text: "team/forged:1 please",
        userId: "UREQUESTER",
        responseUrl: h.fake.responseUrl(),
      });
      const reply = await postSigned(h.target, body, "application/x-www-form-urlencoded", options);
      expect(reply.status).toBe(401);
      const click = await sendClick(
        h.target,
        {
          actionId: "image_check.approve",
          value: "req_AAAAAAAAAAAAAAAA",
          userId: "UAPPROVER",
          responseUrl: h.fake.responseUrl(),
        },
        options,
      );
      expect(click.status).toBe(401);
      await h.bot.idle();
      expect((await h.bot.store.pendingRequests({ limit: 500 })).items).toHaveLength(before.pending);
      expect(
        (await h.bot.store.statusOf("docker.io/team/forged", { tag: "1" }, new Date())).request,
      ).toBeNull();
      expect(h.fake.calls).toHaveLength(before.calls);
    });
  });

  describe("when the image carries Slack control sequences", () => {
    it("reaches Slack escaped in the report and in the IT message", async () => {
      const { post } = await requestToIt(h, "team/hostile:1");
      assertInert(post.body);
      const report = await h.fake.until(
        () =>
          h.fake.responses.find(
            (r) => JSON.stringify(r.body).includes("team/hostile:1") && r.body.replace_original === true,
          ),
        "the report",
      );
      assertInert(report.body);
      const json = JSON.stringify(report.body);
      expect(json).toContain("&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|docs&gt;");
      expect(report.body.text).not.toMatch(/[<>]/);
      expect(JSON.stringify(h.fake.calls.map((c) => c.body))).not.toContain('"link_names"');
    });
  });

  describe("when the check fails on the registry", () => {
    it("shows the reason, posts nothing to IT, and cannot be approved", async () => {
      const answer = await (await command(h, "team/unreachable:1 needed")).answer();
      const json = JSON.stringify(answer.body);
      expect(json).toContain("could not be checked");
      expect(json).toContain("ECONNREFUSED");
      expect(json).not.toContain("image_check.approve");
      assertInert(answer.body);
      const request = (await h.bot.store.statusOf("docker.io/team/unreachable", { tag: "1" }, new Date()))
        .request!;
      expect(request.status).toBe("failed");
      expect(request.verdict).not.toBe("pass");
      await h.bot.idle();
      expect(
        h.fake.ok("chat.postMessage").filter((c) => JSON.stringify(c.body).includes("team/unreachable")),
      ).toHaveLength(0);

      const { note } = await clickAndNote(h, "image_check.approve", request.id, "UAPPROVER");
      expect(JSON.stringify(note.body)).toContain("cannot be decided");
      expect((await h.bot.store.getRequest(request.id))?.status).toBe("failed");
    });

    it("tells the requester when the check itself could not run", async () => {
      const answer = await (await command(h, "team/broken:1 needed")).answer();
      expect(JSON.stringify(answer.body)).toContain("MANIFEST_INVALID");
    });
  });

  describe("when approvers are given as a user group", () => {
    it("resolves the group once for several clicks", async () => {
      const a = await requestToIt(h, "team/group-a:1");
      const b = await requestToIt(h, "team/group-b:1");
      const c = await requestToIt(h, "team/group-c:1");
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: a.requestId,
        userId: "UGROUPIE",
        responseUrl: h.fake.responseUrl(),
      });
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: b.requestId,
        userId: "UGROUPIE",
        responseUrl: h.fake.responseUrl(),
      });
      await clickAndNote(h, "image_check.approve", c.requestId, "UOUTSIDER");
      expect((await h.bot.store.getRequest(a.requestId))?.status).toBe("approved");
      expect((await h.bot.store.getRequest(b.requestId))?.status).toBe("approved");
      expect((await h.bot.store.getRequest(c.requestId))?.status).toBe("pending");
      // One look-up in the whole file: the refusals above already cached the group.
      const lookups = h.fake.ok("usergroups.users.list");
      expect(lookups).toHaveLength(1);
      expect(lookups[0]!.body.usergroup).toBe("SAPPROVERS");
    });
  });
});
