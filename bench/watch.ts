/**
 * Watch scheduling benchmark (part of `npm run bench`; alone: `npm run bench -- watch`).
 *
 * Seeds 10,000 approved, unexpired digests (decided over the last 90 days, so their re-checks are
 * spread over time) plus 10,000 expired approvals and rejections as noise, then measures one
 * scheduling pass (`WatchStore.schedule`: enrol new approvals, retire the ones no longer in force,
 * read what is due): the first pass (which enrols the first batch), the pass with all 10,000 due,
 * and serve's pass with its small budget. The
 * issue's targets: <= 50 ms and <= 20 MB of extra heap per pass.
 *
 * Then what a re-check of an unchanged image costs the registry against a normal check of the same
 * image, in the same run and process (the testbed's open registry, through a counting proxy): with
 * the manifest held (serve: If-None-Match, 304) and without (a fresh process: cron's
 * `watch --once`). Prints figures; asserts nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseReference } from "../src/reference/parse.js";
import { RegistrySource } from "../src/registry/index.js";
import { openDb } from "../src/store/db.js";
import { openWatchStore, WATCH_STORE_DEFAULTS } from "../src/store/watch.js";
import { pushImage, pushIndex, randomRepo } from "../test/support/image-builder.js";
import { startProxy } from "../test/support/proxy.js";
import type { Testbed } from "../test/support/testbed.js";

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

/** Registry requests and bytes of a normal check vs a re-check of the same unchanged image. */
async function benchRecheckRequests(testbed: Testbed): Promise<string> {
  const proxy = await startProxy(testbed.open.host);
  try {
    const repo = randomRepo("bench-watch");
    const config = { User: "10001", Labels: { "org.opencontainers.image.source": "https://example.test/x" } };
    await pushImage(testbed.open, repo, { config }, "single");
    await pushIndex(
      testbed.open,
      repo,
      {
        images: [
          { spec: { config }, platform: { os: "linux", architecture: "amd64" } },
          { spec: { config }, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
        attestations: true,
      },
      "multi",
    );
    const newSource = () => new RegistrySource({ allowPrivate: [proxy.host], allowInsecure: [proxy.host] });
    const rows: string[] = [];
    for (const [name, tag] of [
      ["single-platform", "single"],
      ["index + BuildKit attestations", "multi"],
    ] as const) {
      const ref = parseReference(`${proxy.host}/${repo}:${tag}`);
      const serve = newSource();
      await serve.gather(ref); // the approval's check: learns the registry, holds the manifest
      proxy.reset();
      const normal = await serve.gather(ref);
      const normalRequests = proxy.requests.length;
      proxy.reset();
      const recheck = await serve.gather(ref, { knownDigest: normal.digest });
      const recheckRequests = proxy.requests.length;
      const notModified = proxy.requests.filter((r) => r.status === 304).length;
      serve.close();
      const cron = newSource();
      proxy.reset();
      const cold = await cron.gather(ref, { knownDigest: normal.digest });
      const coldRequests = proxy.requests.length;
      cron.close();
      rows.push(
        `| ${name} | ${normalRequests} / ${normal.stats.bytes} B | ${recheckRequests} / ${recheck.stats.bytes} B (${notModified} x 304) | ${coldRequests} / ${cold.stats.bytes} B |`,
      );
    }
    return [
      "Registry requests / bytes received per gather of an unchanged image (the testbed's open registry, no auth):",
      "",
      "| image | normal check | re-check, manifest held (serve) | re-check, fresh process (cron; its first gather also probes the referrers API) |",
      "| --- | --- | --- | --- |",
      ...rows,
    ].join("\n");
  } finally {
    await proxy.stop();
  }
}

/** Run the watch benchmark; returns the figures as Markdown. */
export async function benchWatch(testbed: Testbed): Promise<string> {
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
      "",
      await benchRecheckRequests(testbed),
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
