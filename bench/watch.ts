/**
 * Watch scheduling benchmark (part of `npm run bench`; alone: `npm run bench -- watch`).
 *
 * Seeds 10,000 approved, unexpired digests (decided over the last 90 days, so their re-checks are
 * spread over time) plus 10,000 expired approvals and rejections as noise, then measures one
 * scheduling pass (`WatchStore.schedule`: enrol new approvals, retire the ones no longer in force,
 * read what is due): the first pass (which enrols the first batch), the pass with all 10,000 due,
 * and serve's pass with its small budget. The
 * issue's targets: <= 50 ms and <= 20 MB of extra heap per pass. Prints figures; asserts nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../src/store/db.js";
import { openWatchStore, WATCH_STORE_DEFAULTS } from "../src/store/watch.js";

const APPROVED = 10_000;
const NOISE = 10_000;
const STEADY_RUNS = 200;
const DAY_MS = 86_400_000;

const ms = (x: number) => `${x.toFixed(2)} ms`;
const mb = (x: number) => `${(x / 1024 / 1024).toFixed(2)} MB`;
const gc = (globalThis as { gc?: () => void }).gc;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One measured pass: its time and the heap it left allocated (after a GC when --expose-gc). */
async function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; heap: number; result: T }> {
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const started = performance.now();
  const result = await fn();
  const took = performance.now() - started;
  const heap = process.memoryUsage().heapUsed - before;
  return { ms: took, heap, result };
}

/** Run the watch benchmark; returns the figures as Markdown. */
export async function benchWatch(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "image-check-bench-watch-"));
  try {
    const db = openDb(join(dir, "store.db"));
    const now = new Date();
    const insReq = db.sqlite.prepare(
      `INSERT INTO requests (id, reference, repository, tag, digest, requested_by, source, status, verdict, created_at, updated_at, expires_at)
       VALUES (?, ?, ?, '1', ?, 'U1', 'slack', ?, 'review', ?, ?, ?)`,
    );
    const insDec = db.sqlite.prepare(
      `INSERT INTO decisions (request_id, repository, reference, digest, decision, decided_by, requested_by, decided_at, expires_at)
       VALUES (?, ?, ?, ?, ?, 'U_IT', 'U1', ?, ?)`,
    );
    db.sqlite.transaction(() => {
      for (let i = 0; i < APPROVED + NOISE; i++) {
        const noise = i >= APPROVED;
        const decision = noise && i % 2 === 0 ? "rejected" : "approved";
        // Approved ones: decided within the last 90 days, expiring 90 days after; noise approvals expired.
        const decidedAt = new Date(
          now.getTime() - ((i * 7919) % (noise ? 400 : 90)) * DAY_MS - (noise ? 100 * DAY_MS : 0),
        );
        const expiresAt =
          decision === "approved" ? new Date(decidedAt.getTime() + 90 * DAY_MS).toISOString() : null;
        const repo = `registry.example/team${i % 300}/app${i}`;
        const digest = `sha256:${i.toString(16).padStart(64, "0")}`;
        const id = `req_bench${i}`;
        insReq.run(
          id,
          `${repo}:1`,
          repo,
          digest,
          decision,
          decidedAt.toISOString(),
          decidedAt.toISOString(),
          expiresAt,
        );
        insDec.run(id, repo, `${repo}:1`, digest, decision, decidedAt.toISOString(), expiresAt);
      }
    })();
    const ws = openWatchStore(db);
    const opts = { intervalHours: 24, limit: APPROVED };
    const first = await measure(async () => await ws.schedule(now, opts));
    const steady: number[] = [];
    let steadyHeap = 0;
    let due = 0;
    for (let i = 0; i < STEADY_RUNS; i++) {
      const m = await measure(async () => await ws.schedule(now, opts));
      steady.push(m.ms);
      steadyHeap = Math.max(steadyHeap, m.heap);
      due = m.result.length;
    }
    const budget = await measure(async () => await ws.schedule(now, { intervalHours: 24, limit: 10 }));
    db.close();
    return [
      `Store: ${APPROVED} approved, unexpired digests; ${NOISE} expired approvals and rejections. Targets: <= 50 ms, <= 20 MB extra heap.`,
      "",
      "| scheduling pass | time | extra heap | due |",
      "| --- | --- | --- | --- |",
      `| first (enrols the first ${WATCH_STORE_DEFAULTS.enrolBatch} of ${APPROVED}) | ${ms(first.ms)} | ${mb(first.heap)} | ${first.result.length} |`,
      `| all 10,000 enrolled and due, all returned (median of ${STEADY_RUNS}; heap: worst) | ${ms(median(steady))} | ${mb(steadyHeap)} | ${due} |`,
      `| steady, serve's budget of 10 | ${ms(budget.ms)} | ${mb(budget.heap)} | ${budget.result.length} |`,
      gc ? "" : "(run with node --expose-gc for heap figures after a collection)",
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
