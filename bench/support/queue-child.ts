/**
 * One claiming process of `npm run bench -- queue` (bench/queue.ts forks two): opens the store the
 * parent names in BENCH_QUEUE_STORE (JSON `{ dbPath, databaseUrl? }`), says "ready", and on "go"
 * runs a worker (`startWorker`, concurrency from BENCH_QUEUE_CONCURRENCY) whose handler only notes
 * the job's id and when it ran. On "stop" it stops the worker, closes the store and sends back what
 * it ran. Times are `performance.timeOrigin + performance.now()`: wall-clock milliseconds with
 * sub-millisecond resolution, comparable between the processes of one machine.
 */
import { pathToFileURL } from "node:url";
import { openConfiguredStore, type StoreLocation } from "../../src/store/open.js";
import { openQueue } from "../../src/worker/queue.js";
import { startWorker } from "../../src/worker/worker.js";

/** What the parent sends. */
export type ToQueueChild = { type: "go" } | { type: "stop" };
/** What the child sends: each handler run (job id, start) and each completion the worker recorded. */
export type FromQueueChild =
  | { type: "ready" }
  | { type: "result"; runs: [number, number][]; dones: [number, number][]; errors: string[] };

/** The job kind the bench enqueues. */
export const BENCH_JOB_KIND = "bench.noop";

const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const where = JSON.parse(process.env.BENCH_QUEUE_STORE ?? "{}") as StoreLocation;
  const concurrency = Number(process.env.BENCH_QUEUE_CONCURRENCY ?? 4);
  const store = await openConfiguredStore(where);
  // One query before "ready": the connection (PostgreSQL) or the page cache (SQLite) is warm.
  await openQueue(store).counts();
  const runs: [number, number][] = [];
  const dones: [number, number][] = [];
  const errors: string[] = [];
  let worker: ReturnType<typeof startWorker> | undefined;
  process.on("message", async (msg: ToQueueChild) => {
    if (msg.type === "go") {
      worker = startWorker({
        store,
        concurrency,
        handlers: {
          [BENCH_JOB_KIND]: async (_payload, ctx) => {
            runs.push([ctx.job.id, now()]);
          },
        },
        onEvent: (e) => {
          if (e.type === "done") dones.push([e.job.id, now()]);
          else if (e.type === "error") errors.push(String(e.error));
          else if (e.type !== "claimed") errors.push(`${e.type}: job ${e.job.id}`);
        },
      });
      return;
    }
    await worker?.stop({ graceMs: 1000 });
    await store.close();
    const out: FromQueueChild = { type: "result", runs, dones, errors };
    process.send!(out, () => process.exit(0));
  });
  process.send!({ type: "ready" } satisfies FromQueueChild);
}

// Only as the forked process: bench/queue.ts imports this file for its types and the job kind.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
