// Replicas on one PostgreSQL store wake each other: a job another replica queues (enqueued, or put
// back) reaches this replica's idle worker at once, through the jobs table's NOTIFY trigger and
// the store's LISTEN connection. The workers here poll once an hour, so only the notification can
// wake them; `eventually` only bounds a broken wake-up, it times nothing.
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openPostgres } from "../../src/store/postgres.js";
import { openQueue } from "../../src/worker/queue.js";
import { startWorker } from "../../src/worker/worker.js";
import { migratedPgDatabase, pgStoreParts } from "../store/pg-support.js";
import { eventually } from "../support/eventually.js";
import { queryOnce } from "../support/postgres.js";

const HOUR = 3_600_000;

describe("two replicas on one PostgreSQL store, one of them idle", async () => {
  const url = await migratedPgDatabase("wake_replicas");
  const idle = pgStoreParts(openPostgres(url)).store;
  const busy = pgStoreParts(openPostgres(url)).store;
  const ran: string[] = [];
  const worker = startWorker({
    store: idle,
    pollMs: HOUR,
    handlers: { "wake.test": async (payload) => void ran.push(String((payload as { n: string }).n)) },
  });
  afterAll(async () => {
    await worker.stop({ graceMs: 0 });
    await idle.close();
    await busy.close();
  });
  const admin = <T extends pg.QueryResultRow>(text: string) => queryOnce<T>(url, text);
  /** The backend of the idle replica's LISTEN connection, once it listens. */
  const listening = () =>
    eventually(
      async () =>
        (
          await admin<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'",
          )
        )[0]?.pid,
      "the LISTEN connection",
    );
  const queue = openQueue(busy);

  it("runs at once a job the other replica enqueued", async () => {
    await listening();
    await worker.idle();
    await queue.enqueue({ kind: "wake.test", payload: { n: "enqueued" } }, new Date());
    await eventually(async () => ran.includes("enqueued"), "the job to run");
  });

  it("runs at once a job the other replica claimed and put back (a stop, a lost lease)", async () => {
    // Put in the table directly, so the idle replica's process sees no enqueue of its own.
    const { job } = await queue.enqueue({ kind: "wake.other", payload: { n: "released" } }, new Date());
    await admin(`UPDATE jobs SET kind = 'wake.test', status = 'running', lease_owner = 'busy-replica',
      lease_expires_at = '2999-01-01T00:00:00.000Z' WHERE id = ${job.id}`);
    expect(await queue.release(job.id, "busy-replica", new Date())).toBe(true);
    await eventually(async () => ran.includes("released"), "the put-back job to run");
  });

  it("listens again after its connection was cut, and is woken as before", async () => {
    const cut = await listening();
    await admin(`SELECT pg_terminate_backend(${cut})`);
    await eventually(async () => {
      const now = (
        await admin<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
      )[0]?.pid;
      return now !== undefined && now !== cut;
    }, "a new LISTEN connection");
    await queue.enqueue({ kind: "wake.test", payload: { n: "after the cut" } }, new Date());
    await eventually(async () => ran.includes("after the cut"), "the job to run after the cut");
  });
});
