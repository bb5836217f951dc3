import { describe, expect, it } from "vitest";
import { createApprovers } from "../../src/slack/approvers.js";

/** A group look-up the test answers by hand; counts the calls. */
function lookups() {
  const calls: string[] = [];
  const answers = new Map<string, { resolve: (m: string[]) => void; reject: (e: Error) => void }>();
  const members = (groupId: string) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push(groupId);
      answers.set(groupId, { resolve, reject });
    });
  return { members, calls, answer: (groupId: string) => answers.get(groupId)! };
}

const clock = () => 0;

describe("createApprovers", () => {
  it("knows a configured user without asking Slack", async () => {
    const slack = lookups();
    const approvers = createApprovers(["UAPPROVER", "SGROUP"], slack.members, clock);
    expect(await approvers.isApprover("UAPPROVER", 0)).toBe(true);
    expect(slack.calls).toEqual([]);
  });

  describe("when Slack does not answer the group look-up in time", () => {
    it("refuses with APPROVERS_UNAVAILABLE, never a guess, and clicks share the one look-up", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SGROUP"], slack.members, clock);
      const outcomes = await Promise.allSettled([
        approvers.isApprover("UMEMBER", 10),
        approvers.isApprover("UOTHER", 10),
      ]);
      expect(outcomes).toEqual([
        { status: "rejected", reason: expect.objectContaining({ code: "APPROVERS_UNAVAILABLE" }) },
        { status: "rejected", reason: expect.objectContaining({ code: "APPROVERS_UNAVAILABLE" }) },
      ]);
      expect(slack.calls).toEqual(["SGROUP"]);
    });

    it("keeps the late answer: the next click is answered from the cache", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SGROUP"], slack.members, clock);
      await expect(approvers.isApprover("UMEMBER", 10)).rejects.toMatchObject({
        code: "APPROVERS_UNAVAILABLE",
      });
      slack.answer("SGROUP").resolve(["UMEMBER"]);
      // No time at all to wait: only a warm cache can answer.
      expect(await approvers.isApprover("UMEMBER", 0)).toBe(true);
      expect(await approvers.isApprover("UOTHER", 0)).toBe(false);
      expect(slack.calls).toEqual(["SGROUP"]);
    });
  });

  describe("when the look-up fails", () => {
    it("refuses with APPROVERS_UNAVAILABLE and asks again next time", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SGROUP"], slack.members, clock);
      const first = approvers.isApprover("UMEMBER", 1000);
      slack.answer("SGROUP").reject(new Error("ratelimited"));
      await expect(first).rejects.toMatchObject({ code: "APPROVERS_UNAVAILABLE" });
      const second = approvers.isApprover("UMEMBER", 1000);
      slack.answer("SGROUP").resolve(["UMEMBER"]);
      expect(await second).toBe(true);
      expect(slack.calls).toEqual(["SGROUP", "SGROUP"]);
    });
  });

  describe("when there are several groups", () => {
    it("says yes as soon as one group has the user, while another is still being looked up", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SFAST", "SSLOW"], slack.members, clock);
      const answer = approvers.isApprover("UMEMBER", 1000);
      slack.answer("SFAST").resolve(["UMEMBER"]);
      expect(await answer).toBe(true);
    });

    it("says no only once every group answered without the user", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SONE", "STWO"], slack.members, clock);
      const answer = approvers.isApprover("UOTHER", 1000);
      slack.answer("SONE").resolve(["UMEMBER"]);
      slack.answer("STWO").resolve([]);
      expect(await answer).toBe(false);
    });

    it("refuses when one group could not be listed and the others do not have the user", async () => {
      const slack = lookups();
      const approvers = createApprovers(["SONE", "STWO"], slack.members, clock);
      const answer = approvers.isApprover("UOTHER", 1000);
      slack.answer("SONE").resolve(["UMEMBER"]);
      slack.answer("STWO").reject(new Error("internal_error"));
      await expect(answer).rejects.toMatchObject({ code: "APPROVERS_UNAVAILABLE" });
    });
  });
});
