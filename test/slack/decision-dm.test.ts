import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JOB } from "../../src/slack/ids.js";
import { enqueueRequestJob } from "../../src/slack/jobs.js";
import { openQueue } from "../../src/worker/queue.js";
import { type Harness, requestToIt, startHarness } from "../support/slack-harness.js";
import { sendClick } from "../support/slack-requests.js";

describe("the requester's decision DM", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const dmsOf = (fragment: string) =>
    h.fake
      .ok("chat.postMessage")
      .filter((c) => c.body.channel === "UREQUESTER" && JSON.stringify(c.body).includes(fragment));

  /** Ask IT for `reference`, approve it, and wait until the DM was sent and every job is done. */
  async function decided(reference: string) {
    const { requestId } = await requestToIt(h, reference);
    await h.bot.idle();
    await sendClick(h.target, {
      actionId: "image_check.approve",
      value: requestId,
      userId: "UAPPROVER",
      responseUrl: h.fake.responseUrl(),
    });
    await h.fake.until(() => dmsOf(reference).length > 0, `the DM about ${reference}`);
    await h.bot.idle();
    return requestId;
  }

  /**
   * Leave the request's notify job as a worker killed with SIGKILL before completing it leaves it:
   * running, under a lease that has expired. The bot's worker takes it over (attempt 2).
   */
  function crashNotifyJob(requestId: string) {
    const db = h.db.sqlite;
    const job = db
      .prepare("SELECT id, status FROM jobs WHERE kind = ? AND idempotency_key = ? ORDER BY id DESC")
      .get(JOB.notify, `${JOB.notify}:${requestId}`) as { id: number; status: string };
    expect(job.status).toBe("done");
    db.prepare(
      "UPDATE jobs SET status = 'running', lease_owner = 'killed-worker', lease_expires_at = ?, finished_at = NULL WHERE id = ?",
    ).run(new Date(Date.now() - 1000).toISOString(), job.id);
    return job.id;
  }

  const jobOf = (id: number) =>
    h.db.sqlite.prepare("SELECT status, attempts FROM jobs WHERE id = ?").get(id) as {
      status: string;
      attempts: number;
    };

  describe("when the process died after the DM, before its job completed", () => {
    it("is not sent again when the job runs again", async () => {
      const requestId = await decided("team/dm-crash:1");
      const dm = dmsOf("team/dm-crash:1")[0]!;
      expect(dm.body.metadata).toMatchObject({
        event_type: "image_check_decision",
        event_payload: { request_id: requestId },
      });
      const jobId = crashNotifyJob(requestId);
      await h.bot.idle();
      expect(jobOf(jobId)).toEqual({ status: "done", attempts: 2 });
      expect(dmsOf("team/dm-crash:1")).toHaveLength(1);
    });

    it("is not sent again by a second notify job for the same decision", async () => {
      const requestId = await decided("team/dm-twice:1");
      // What a second decision event would do: the job's key is free again once the first is done.
      enqueueRequestJob({ queue: openQueue(h.bot.store) }, JOB.notify, requestId, new Date());
      await h.bot.idle();
      expect(dmsOf("team/dm-twice:1")).toHaveLength(1);
    });
  });

  describe("when the process died while Slack was taking the DM (sent, never recorded)", () => {
    const forgetDm = (requestId: string) =>
      h.db.sqlite.prepare("DELETE FROM slack_dms WHERE request_id = ?").run(requestId);

    it("finds the DM by its metadata in the requester's DM channel and sends nothing", async () => {
      const requestId = await decided("team/dm-in-flight:1");
      const first = dmsOf("team/dm-in-flight:1")[0]!;
      forgetDm(requestId);
      crashNotifyJob(requestId);
      await h.bot.idle();
      expect(dmsOf("team/dm-in-flight:1")).toHaveLength(1);
      expect(h.fake.ok("conversations.open").at(-1)?.body).toMatchObject({ users: "UREQUESTER" });
      expect(h.fake.ok("conversations.history").at(-1)?.body).toMatchObject({
        channel: "DREQUESTER",
        include_all_metadata: "true",
      });
      const recorded = h.db.sqlite
        .prepare("SELECT channel, ts FROM slack_dms WHERE request_id = ?")
        .all(requestId);
      expect(recorded).toEqual([{ channel: "DREQUESTER", ts: first.response?.ts }]);
    });

    it("sends it again when Slack refuses to show the DM's history (no im:history scope)", async () => {
      const requestId = await decided("team/dm-no-scope:1");
      forgetDm(requestId);
      h.fake.fail("conversations.history", { kind: "error", error: "missing_scope" });
      crashNotifyJob(requestId);
      await h.bot.idle();
      expect(dmsOf("team/dm-no-scope:1")).toHaveLength(2);
    });
  });
});
