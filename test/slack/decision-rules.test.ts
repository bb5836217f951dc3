// The approval rules through the whole Slack app (issue 8, items 1 and 2): a person's decision
// stands for the digest under any name, and nobody's request is settled on their own decision.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { defaultPolicy } from "../../src/policy/schema.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { digestOf, makeReport } from "../support/slack-fixtures.js";
import {
  buttonsOf,
  clickAndNote,
  command,
  craftedReport,
  type Harness,
  IT_CHANNEL,
  itMessage,
  requestToIt,
  startHarness,
} from "../support/slack-harness.js";
import { sendClick, sendSubmission } from "../support/slack-requests.js";

/** The manifest every name of `test/plain*` on the loopback registry resolves to. */
const PLAIN = digestOf("plain-1.0");

/** Verdicts the runner gives `test/plain*` from now on (the default policy approves a pass). */
const verdicts = { plain: "review" as Report["verdict"] };

/** The crafted runner, except that every name of `test/plain*` is the one manifest `PLAIN`. */
const runner: CheckRunner = async ({ reference }) =>
  /\/test\/plain/.test(reference)
    ? makeReport(reference, verdicts.plain, { digest: PLAIN })
    : craftedReport(reference);

/** The IT channel posts that mention `fragment`. */
const itPosts = (h: Harness, fragment: string) =>
  h.fake
    .ok("chat.postMessage")
    .filter((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes(fragment));

describe("the Slack app's decision rules", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ runner, policy: defaultPolicy() });
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("when IT rejected a digest and it is asked for under another name", () => {
    beforeAll(async () => {
      const { requestId } = await requestToIt(h, "127.0.0.1:5000/test/plain:1.0");
      await sendClick(h.target, {
        actionId: "image_check.reject",
        value: requestId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      await sendSubmission(h.target, {
        callbackId: "image_check.reject_reason",
        privateMetadata: requestId,
        userId: "UAPPROVER",
        values: { reason: { reason: "ships a cryptominer" } },
      });
      await h.bot.idle();
      // From now on the image passes: only the rejection can stop the policy approving it.
      verdicts.plain = "pass";
    });

    const names: [string, string][] = [
      ["a shortened IPv4 host", "127.1:5000/test/plain:1.0"],
      ["a decimal IPv4 host", "2130706433:5000/test/plain:1.0"],
      ["a hex IPv4 host", "0x7f.1:5000/test/plain:1.0"],
      ["another repository holding the same manifest", "127.0.0.1:5000/test/plaincopy:9.9"],
    ];
    for (const [name, reference] of names) {
      it(`tells the requester who rejected it and why, never approving it by policy: ${name}`, async () => {
        const answer = await (await command(h, `${reference} I need it`, "UOTHER")).answer();
        const json = JSON.stringify(answer.body);
        expect(json).toContain("already rejected");
        expect(json).toContain("<@UAPPROVER>");
        expect(json).toContain("ships a cryptominer");
        expect(json).not.toContain("Approved* by policy");
        const [button] = buttonsOf(answer.body);
        expect(button?.actionId).toBe("image_check.request_approval");
        await h.bot.idle();
        expect(await h.bot.store.getRequest(button!.value)).toMatchObject({
          status: "rejected",
          verdict: "pass",
        });
        expect(itPosts(h, reference)).toHaveLength(0);
      });
    }

    it("answers status and history under any name with the rejection", async () => {
      for (const name of ["0x7f.1:5000/test/plain:1.0", "127.0.0.1:5000/test/plaincopy:9.9"]) {
        const status = (await command(h, `status ${name}`, "UOTHER")).ack.text;
        expect(status).toContain("*Rejected* by <@UAPPROVER>");
        expect(status).toContain("ships a cryptominer");
      }
      const history = (await command(h, "history 127.1:5000/test/plain", "UOTHER")).ack.text;
      expect(history).toContain("127.0.0.1:5000/test/plain:1.0");
    });
  });

  describe("when an approver asks for a digest they approved for someone else (two-person rule)", () => {
    it("sends their request to IT for another approver, and refuses their own decision on it", async () => {
      const { requestId: usersId } = await requestToIt(h, "team/shared:1", "UREQUESTER");
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: usersId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      await h.bot.idle();
      expect(await h.bot.store.getRequest(usersId)).toMatchObject({ status: "approved" });

      const answer = await (await command(h, "team/shared:1 for my own laptop", "UAPPROVER")).answer();
      const json = JSON.stringify(answer.body);
      expect(json).not.toContain("already approved");
      expect(json).toContain("Sent to IT");
      const post = await itMessage(h, "for my own laptop");
      expect(JSON.stringify(post.body)).toContain("<@UAPPROVER>");
      const ownId = buttonsOf(post.body)[0]!.value;
      expect(await h.bot.store.getRequest(ownId)).toMatchObject({ status: "pending", decisionId: null });

      const { note } = await clickAndNote(h, "image_check.approve", ownId, "UAPPROVER");
      expect(JSON.stringify(note.body)).toContain("another approver has to decide");
      expect(await h.bot.store.getRequest(ownId)).toMatchObject({ status: "pending" });

      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: ownId,
        userId: "UBOSS",
        responseUrl: h.fake.responseUrl(),
      });
      await h.bot.idle();
      expect(await h.bot.store.getRequest(ownId)).toMatchObject({ status: "approved" });
      expect(
        await h.bot.store.getDecision((await h.bot.store.getRequest(ownId))!.decisionId!, new Date()),
      ).toMatchObject({
        decidedBy: "UBOSS",
        requestedBy: "UAPPROVER",
      });
    });
  });
});
