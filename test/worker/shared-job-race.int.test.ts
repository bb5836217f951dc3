// Two replicas on one PostgreSQL store: one finishes a check job while the other adds a request
// for the same image to it. SQLite runs one transaction at a time, so this cannot interleave there;
// on PostgreSQL it can, and a request linked to a job whose finisher never read it would stay
// `checking` for ever. Each test holds one side's transaction open while the other runs.
import { afterAll, describe, expect, it } from "vitest";
import type { RequestRecord } from "../../src/store/api.js";
import type { PgStore } from "../../src/store/pg-store.js";
import { openPostgres } from "../../src/store/postgres.js";
import { enqueueCheck } from "../../src/worker/check-job.js";
import { openQueue } from "../../src/worker/queue.js";
import { migratedPgDatabase, pgStoreParts, slackRequest } from "../store/pg-support.js";
import { T0 } from "../store/support.js";

const POLICY = "test-policy";
const HOLD_MS = 150;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a check job finished on one replica while another replica adds a request to it", async () => {
  const url = await migratedPgDatabase("shared_job_race");
  const [finisher, joiner] = [pgStoreParts(openPostgres(url)).store, pgStoreParts(openPostgres(url)).store];
  afterAll(async () => {
    await finisher.close();
    await joiner.close();
  });

  const request = slackRequest;
  const enqueue = (store: PgStore, r: RequestRecord) =>
    enqueueCheck(store, { requestId: r.id, reference: r.reference, policyVersion: POLICY }, T0);
  /** What the check job does when it stores its results: free the key, then read its requests. */
  const finish = (jobId: number, hold = 0) =>
    finisher.transaction(async () => {
      await openQueue(finisher).releaseKey(jobId);
      await pause(hold);
      return (await finisher.requestsOfJob(jobId)).map((r) => r.id);
    });

  it("when the request joins first, the finisher waits for it and reads it", async () => {
    const first = await request(finisher, "U_FIRST");
    const { job } = await enqueue(finisher, first);
    const second = await request(joiner, "U_SECOND");
    // The joiner's transaction stays open a while after linking; the finisher starts meanwhile.
    const joining = joiner.transaction(async () => {
      const out = await enqueue(joiner, second);
      await pause(HOLD_MS);
      return out;
    });
    await pause(HOLD_MS / 3);
    const [joined, read] = await Promise.all([joining, finish(job.id)]);
    expect(joined.job.id).toBe(job.id);
    expect(read).toEqual([first.id, second.id]);
  });

  it("when the finisher freed the key first, the request starts a new job instead of joining", async () => {
    const first = await request(finisher, "U_FIRST");
    const { job } = await enqueue(finisher, first);
    const finishing = finish(job.id, HOLD_MS);
    await pause(HOLD_MS / 3);
    const second = await request(joiner, "U_SECOND");
    const [read, joined] = await Promise.all([finishing, enqueue(joiner, second)]);
    expect(read).toEqual([first.id]);
    expect(joined.created).toBe(true);
    expect(joined.job.id).not.toBe(job.id);
    expect((await joiner.requestsOfJob(joined.job.id)).map((r) => r.id)).toEqual([second.id]);
  });
});
