import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type pg from "pg";
import type { Report } from "../src/checks/report.js";
import type { Store } from "../src/store/api.js";
import { openDb } from "../src/store/db.js";
import { createPgStore } from "../src/store/pg-store.js";
import { migratePostgres, openPostgres } from "../src/store/postgres.js";
import { createStore } from "../src/store/service.js";
import { startWorker } from "../src/worker/worker.js";
import { benchDatabase } from "./support/postgres.js";

const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 1_000_000);
const PENDING = Number(process.env.BENCH_PENDING ?? 20_000);
const REPOSITORIES = 20_000;
const QUERY_RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 1_000);
const WARM_UP_RUNS = 50;
/** Answers of the first warm-up runs of each query, compared between the engines. */
const ANSWERS_COMPARED = 25;
const LATENCY_JOBS = 200;
/**
 * Rows per PostgreSQL INSERT while seeding: each statement sends one array per column (unnest), so
 * its size is bounded by memory, not by the 65,535 bind parameters of a multi-row VALUES.
 */
const PG_SEED_BATCH = 5_000;
/** The seeded history spans three years, ending now. */
const SPAN_MS = 3 * 365 * 86_400_000;

/** A deterministic PRNG (mulberry32), so runs seed the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks repository indexes with Zipf(s = 1.07) popularity, drawing from the `random` it is given. */
function zipfPicker(n: number): (random: () => number) => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** 1.07;
    cdf[i] = sum;
  }
  return (random) => {
    const x = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
const pick = zipfPicker(REPOSITORIES);

const repoName = (i: number) =>
  i % 5 === 0
    ? `docker.io/library/image${i}`
    : i % 5 === 1
      ? `ghcr.io/org${i % 700}/app${i}`
      : `docker.io/team${i % 3000}/svc${i}`;
const hex64 = (a: number, b: number) =>
  (a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0")).repeat(4);
const digestOf = (repo: number, version: number) => `sha256:${hex64(repo, version)}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}
const ms = (x: number) => `${x.toFixed(3)} ms`;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

function sampleReport(repository: string, tag: string, digest: string, checkedAt: string): Report {
  const slash = repository.indexOf("/");
  return {
    schema: "image-check/report@1",
    reference: `${repository}:${tag}`,
    image: {
      registry: repository.slice(0, slash),
      repository: repository.slice(slash + 1),
      tag,
      digest,
      platform: "linux/amd64",
    },
    verdict: "review",
    findings: [
      {
        id: "config.root-user",
        category: "config",
        severity: "medium",
        title: "runs as root",
        detail: "set USER",
        evidence: { user: "" },
      },
      {
        id: "provenance.no-source",
        category: "provenance",
        severity: "medium",
        title: "no source link",
        detail: "add org.opencontainers.image.source",
        evidence: {},
      },
    ] as Report["findings"],
    facts: {
      user: "",
      labels: { maintainer: "someone@example.com" },
      history: Array.from({ length: 8 }, (_, i) => ({
        createdBy: `/bin/sh -c step ${i} && apt-get install -y thing${i}`,
        emptyLayer: i % 2 === 0,
      })),
      signatures: [],
      attestations: [],
    },
    checkedAt,
    durationMs: 900,
    policyVersion: "bench-policy",
  };
}

/**
 * The seeded tables and the columns the seed fills, in the order a seed row carries its values.
 * Every value is text (timestamps are ISO-8601 text on both engines); `seq` is left to SQLite's
 * rowid and given explicitly on PostgreSQL, in the same insertion order, so both hold the same rows.
 */
const SEED_COLUMNS = {
  reports: [
    "id",
    "digest",
    "policy_version",
    "repository",
    "reference",
    "verdict",
    "checked_at",
    "json",
    "created_at",
  ],
  requests: [
    "id",
    "reference",
    "repository",
    "tag",
    "digest",
    "requested_by",
    "source",
    "channel",
    "reason",
    "status",
    "verdict",
    "report_id",
    "created_at",
    "updated_at",
    "expires_at",
  ],
  decisions: [
    "request_id",
    "repository",
    "reference",
    "digest",
    "decision",
    "decided_by",
    "requested_by",
    "reason",
    "decided_at",
    "expires_at",
  ],
  tag_observations: ["repository", "tag", "digest", "first_seen_at", "last_seen_at"],
} as const;
type SeedTable = keyof typeof SEED_COLUMNS;
/** Tables in the order their rows may be inserted (each references only tables before it). */
const SEED_ORDER: SeedTable[] = ["reports", "requests", "decisions", "tag_observations"];

/** One row to insert: its table and its values in `SEED_COLUMNS` order. */
interface SeedRow {
  table: SeedTable;
  values: (string | null)[];
}

/**
 * The seed, row by row, in insertion order. Deterministic for a given `end` (PRNG seed 42): both
 * engines are given exactly the same rows. `versions[r]` ends as the newest version of repository r.
 */
function* seedRows(end: number, versions: Uint32Array): Generator<SeedRow> {
  const random = prng(42);
  const start = end - SPAN_MS;
  for (let i = 0; i < DECISIONS; i++) {
    const r = pick(random);
    // A new version (digest) every few requests of a repository: tags move over time.
    const moved = random() < 0.3 || i < REPOSITORIES;
    if (moved) versions[r]!++;
    const v = versions[r]!;
    const repository = repoName(r);
    const tag = `1.${v}`;
    const reference = `${repository}:${tag}`;
    const digest = digestOf(r, v);
    const at = new Date(start + (SPAN_MS * i) / DECISIONS).toISOString();
    const id = `req_${i.toString(32).padStart(16, "0")}`;
    const approved = random() < 0.85;
    const decision = approved ? "approved" : "rejected";
    const expires = approved ? new Date(Date.parse(at) + 90 * 86_400_000).toISOString() : null;
    const requester = `U${(i % 5000).toString(36).toUpperCase().padStart(8, "0")}`;
    yield {
      table: "requests",
      values: [
        id,
        reference,
        repository,
        tag,
        digest,
        requester,
        "slack",
        "C0DEV",
        "for the build",
        decision,
        "review",
        null,
        at,
        at,
        expires,
      ],
    };
    yield {
      table: "decisions",
      values: [
        id,
        repository,
        reference,
        digest,
        decision,
        "U0APPROVER",
        requester,
        "for the build",
        at,
        expires,
      ],
    };
    if (moved) yield { table: "tag_observations", values: [repository, tag, digest, at, at] };
  }
  for (let i = 0; i < PENDING; i++) {
    const r = pick(random);
    const v = versions[r]! + 1;
    const repository = repoName(r);
    const tag = `1.${v}`;
    const digest = digestOf(r, v);
    const at = new Date(end - (PENDING - i) * 60_000).toISOString();
    const reportId = `rep_${i.toString(16).padStart(32, "0")}`;
    const report = sampleReport(repository, tag, digest, at);
    yield {
      table: "reports",
      values: [
        reportId,
        digest,
        "bench-policy",
        repository,
        report.reference,
        "review",
        at,
        JSON.stringify(report),
        at,
      ],
    };
    yield {
      table: "requests",
      values: [
        `req_p${i.toString(32).padStart(15, "0")}`,
        report.reference,
        repository,
        tag,
        digest,
        "U0PENDING",
        "slack",
        "C0DEV",
        "for the build",
        "pending",
        "review",
        reportId,
        at,
        at,
        null,
      ],
    };
  }
}

const placeholders = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`);

/** Seed SQLite in one transaction of prepared statements. */
function seedSqlite(db: ReturnType<typeof openDb>, end: number, versions: Uint32Array): void {
  const insert = new Map<SeedTable, { run(...values: (string | null)[]): unknown }>();
  for (const table of SEED_ORDER) {
    const cols = SEED_COLUMNS[table];
    const upsert =
      table === "tag_observations"
        ? " ON CONFLICT (repository, tag, digest) DO UPDATE SET last_seen_at = excluded.last_seen_at, times = times + 1"
        : "";
    insert.set(
      table,
      db.sqlite.prepare<(string | null)[]>(
        `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})${upsert}`,
      ),
    );
  }
  db.sqlite.transaction(() => {
    for (const row of seedRows(end, versions)) insert.get(row.table)!.run(...row.values);
  })();
}

/**
 * Seed PostgreSQL with one INSERT ... SELECT FROM unnest(arrays) per `PG_SEED_BATCH` rows of a
 * table (one round trip and one plan per batch instead of per row), the next batch generated while
 * the server inserts the previous one. `seq` is given explicitly, in insertion order, and the
 * identity sequences are moved past it afterwards.
 */
async function seedPostgres(pool: pg.Pool, end: number, versions: Uint32Array): Promise<void> {
  const client = await pool.connect();
  try {
    const buffers = Object.fromEntries(
      SEED_ORDER.map((t) => [
        t,
        { seq: [] as number[], cols: SEED_COLUMNS[t].map(() => [] as (string | null)[]) },
      ]),
    ) as Record<SeedTable, { seq: number[]; cols: (string | null)[][] }>;
    const seqs = Object.fromEntries(SEED_ORDER.map((t) => [t, 0])) as Record<SeedTable, number>;
    let buffered = 0;
    let inFlight: Promise<unknown> = Promise.resolve();
    const flush = async (): Promise<void> => {
      const statements: [string, unknown[]][] = [];
      // Referenced tables first.
      for (const table of SEED_ORDER) {
        const b = buffers[table];
        if (b.seq.length === 0) continue;
        const cols = SEED_COLUMNS[table];
        const upsert =
          table === "tag_observations"
            ? " ON CONFLICT (repository, tag, digest) DO UPDATE SET last_seen_at = excluded.last_seen_at, times = tag_observations.times + 1"
            : "";
        const arrays = placeholders(cols.length, 2).map((p) => `${p}::text[]`);
        statements.push([
          `INSERT INTO ${table} (seq, ${cols.join(", ")}) SELECT * FROM unnest($1::bigint[], ${arrays.join(", ")})${upsert}`,
          [b.seq, ...b.cols],
        ]);
        buffers[table] = { seq: [], cols: cols.map(() => []) };
      }
      buffered = 0;
      await inFlight;
      inFlight = (async () => {
        for (const [text, values] of statements) await client.query(text, values);
      })();
      // Awaited at the next flush; until then a failure must not count as unhandled.
      inFlight.catch(() => {});
    };
    for (const row of seedRows(end, versions)) {
      const b = buffers[row.table];
      b.seq.push(++seqs[row.table]);
      for (let c = 0; c < row.values.length; c++) b.cols[c]!.push(row.values[c]!);
      if (++buffered >= PG_SEED_BATCH) await flush();
    }
    await flush();
    await inFlight;
    for (const table of SEED_ORDER)
      await client.query(
        `SELECT setval(pg_get_serial_sequence('${table}', 'seq'), GREATEST((SELECT max(seq) FROM ${table}), 1))`,
      );
  } finally {
    client.release();
  }
}

/** A measured query: its name, whether the issue sets it a target, and one call with fresh inputs. */
interface Query {
  name: string;
  target: boolean;
  run(store: Store, random: () => number, now: Date, versions: Uint32Array): Promise<unknown>;
}

const sampleRepo = (random: () => number) =>
  random() < 0.5 ? pick(random) : Math.floor(random() * REPOSITORIES);

const pageTwoCursors = new WeakMap<Store, string>();

const QUERIES: Query[] = [
  {
    name: "status (repository + tag)",
    target: true,
    run: async (store, random, now, versions) => {
      const r = sampleRepo(random);
      return await store.statusOf(
        repoName(r),
        { tag: `1.${Math.floor(random() * (versions[r]! + 1))}` },
        now,
      );
    },
  },
  {
    name: "status (repository + digest)",
    target: true,
    run: async (store, random, now, versions) => {
      const r = sampleRepo(random);
      return await store.statusOf(
        repoName(r),
        { digest: digestOf(r, Math.floor(random() * (versions[r]! + 1))) },
        now,
      );
    },
  },
  {
    name: "history (repository, 20 newest)",
    target: true,
    run: async (store, random, now) => await store.history(repoName(sampleRepo(random)), { limit: 20 }, now),
  },
  {
    name: "history of the most popular repository, page 2",
    target: true,
    run: async (store, _random, now) => {
      // The cursor comes from page 1, read once per store: the row measures the page-2 query alone.
      let before = pageTwoCursors.get(store);
      if (before === undefined) {
        before = (await store.history(repoName(0), { limit: 20 }, now)).next!;
        pageTwoCursors.set(store, before);
      }
      return await store.history(repoName(0), { limit: 20, before }, now);
    },
  },
  {
    name: "pending (20 newest)",
    target: true,
    run: async (store) => await store.pendingRequests({ limit: 20 }),
  },
  {
    name: "decisions --status pending (20)",
    target: true,
    run: async (store, _random, now) => await store.listDecisions({ status: "pending", limit: 20 }, now),
  },
  {
    name: "decisions (20 newest, no filter)",
    target: false,
    run: async (store, _random, now) => await store.listDecisions({ limit: 20 }, now),
  },
  {
    name: "decisions --status approved (20)",
    target: false,
    run: async (store, _random, now) => await store.listDecisions({ status: "approved", limit: 20 }, now),
  },
];

/** Per query: the timed runs (ms) and the answers of the first warm-up runs, as JSON. */
type Measured = { xs: number[]; answers: string[] }[];

/**
 * Run every query on `store`: warm-up runs (page cache, statement caches), then `QUERY_RUNS` timed
 * ones. Each query draws its inputs from a PRNG of its own with a fixed seed, so every engine is
 * asked the same questions in the same order.
 */
async function measureQueries(store: Store, now: Date, versions: Uint32Array): Promise<Measured> {
  const out: Measured = [];
  for (const [i, query] of QUERIES.entries()) {
    const random = prng(1_000 + i);
    const answers: string[] = [];
    for (let w = 0; w < WARM_UP_RUNS; w++) {
      const answer = await query.run(store, random, now, versions);
      if (w < ANSWERS_COMPARED) answers.push(JSON.stringify(answer));
    }
    const xs: number[] = [];
    for (let k = 0; k < QUERY_RUNS; k++) {
      const t = performance.now();
      await query.run(store, random, now, versions);
      xs.push(performance.now() - t);
    }
    out.push({ xs, answers });
  }
  return out;
}

/** The SQLite half: seed, queries, worker latency, size. Returns its lines and its measurements. */
async function benchSqlite(
  end: number,
): Promise<{ lines: string[]; measured: Measured; versions: Uint32Array }> {
  const dir = mkdtempSync(join(tmpdir(), "image-check-bench-store-"));
  const path = join(dir, "store.db");
  const lines: string[] = [];
  try {
    const db = openDb(path);
    const store = createStore(db);
    const versions = new Uint32Array(REPOSITORIES);

    // Seeding is not what is measured: a large page cache and no fsync make it quick; the queries
    // below run with the store's own pragmas again.
    const seedStarted = performance.now();
    db.sqlite.pragma("cache_size = -1048576");
    db.sqlite.pragma("synchronous = OFF");
    db.sqlite.pragma("journal_mode = OFF");
    seedSqlite(db, end, versions);
    db.sqlite.pragma("journal_mode = WAL");
    db.sqlite.exec("ANALYZE");
    db.sqlite.pragma("synchronous = NORMAL");
    db.sqlite.pragma("cache_size = -16000");
    lines.push(`SQLite: seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s.`);

    const loadBefore = loadavg()[0]!;
    const measured = await measureQueries(store, new Date(end), versions);
    lines.push(
      `SQLite queries ran at a 1-minute load average of ${loadBefore.toFixed(1)} to ${loadavg()[0]!.toFixed(1)}.`,
    );

    // --- worker latency ---
    const latencies: number[] = [];
    let started: (() => void) | null = null;
    const worker = startWorker({
      store,
      concurrency: 2,
      // Polling would hide a missing wake-up: with an hour between polls, only the wake-up can start a job fast.
      pollMs: 3_600_000,
      handlers: {
        "bench.noop": async () => {
          started?.();
        },
      },
    });
    await worker.idle();
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const begun = new Promise<void>((resolve) => {
        started = resolve;
      });
      const t = performance.now();
      await worker.queue.enqueue({ kind: "bench.noop", payload: { i } }, new Date());
      await begun;
      latencies.push(performance.now() - t);
      await worker.idle();
    }
    await worker.stop();
    lines.push(
      `SQLite worker enqueue-to-start latency (${LATENCY_JOBS} jobs, idle worker, same process): median ${ms(median(latencies))}, p99 ${ms(p99(latencies))}.`,
    );

    // --- size ---
    const sizes = db.sqlite
      .prepare(
        `SELECT CASE WHEN m.tbl_name IN ('requests', 'decisions') THEN m.tbl_name ELSE 'other' END AS t, SUM(s.pgsize) AS bytes
         FROM dbstat s JOIN sqlite_master m ON m.name = s.name GROUP BY t`,
      )
      .all() as { t: string; bytes: number }[];
    const byTable = Object.fromEntries(sizes.map((s) => [s.t, s.bytes]));
    const perMillion =
      ((byTable.requests ?? 0) + (byTable.decisions ?? 0)) * (1_000_000 / (DECISIONS + PENDING));
    const reportBytes = (
      db.sqlite.prepare("SELECT AVG(LENGTH(json)) AS n FROM reports").get() as { n: number }
    ).n;
    await store.close();
    lines.push(
      `SQLite database file: ${mb(statSync(path).size)} (requests with indexes ${mb(byTable.requests ?? 0)}, decisions with indexes ${mb(byTable.decisions ?? 0)}, the rest ${mb(byTable.other ?? 0)}); per million decisions (decision + its request, with indexes): ${mb(perMillion)}; each stored report adds about ${(reportBytes / 1024).toFixed(1)} KB of JSON (this sample report).`,
    );
    return { lines, measured, versions };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PostgreSQL half: migrate, seed the same rows, VACUUM ANALYZE, queries, size. */
async function benchPg(end: number): Promise<{ lines: string[]; measured: Measured }> {
  const server = await benchDatabase("image_check_bench_store");
  const lines: string[] = [];
  try {
    await migratePostgres(server.url);
    const db = openPostgres(server.url);
    const store = createPgStore(db);
    try {
      const versions = new Uint32Array(REPOSITORIES);
      const seedStarted = performance.now();
      await seedPostgres(db.pool, end, versions);
      const seededMs = performance.now() - seedStarted;
      // What autovacuum would have done on a server that had been running: statistics for the
      // planner, and the visibility map that lets index-only scans skip the heap.
      const vacuumStarted = performance.now();
      await db.pool.query("VACUUM (ANALYZE)");
      lines.push(
        `PostgreSQL: ${server.where}; seeded in ${(seededMs / 1000).toFixed(1)} s, then VACUUM (ANALYZE) in ${((performance.now() - vacuumStarted) / 1000).toFixed(1)} s.`,
      );

      const loadBefore = loadavg()[0]!;
      const measured = await measureQueries(store, new Date(end), versions);
      lines.push(
        `PostgreSQL queries ran at a 1-minute load average of ${loadBefore.toFixed(1)} to ${loadavg()[0]!.toFixed(1)} (this machine and anything else it runs).`,
      );

      const { rows } = await db.pool.query<{ requests: string; decisions: string; total: string }>(
        `SELECT pg_total_relation_size('requests') AS requests, pg_total_relation_size('decisions') AS decisions,
                pg_database_size(current_database()) AS total`,
      );
      const size = { requests: Number(rows[0]!.requests), decisions: Number(rows[0]!.decisions) };
      const perMillion = (size.requests + size.decisions) * (1_000_000 / (DECISIONS + PENDING));
      lines.push(
        `PostgreSQL database: ${mb(Number(rows[0]!.total))} (requests with indexes ${mb(size.requests)}, decisions with indexes ${mb(size.decisions)}); per million decisions (decision + its request, with indexes): ${mb(perMillion)}.`,
      );
      return { lines, measured };
    } finally {
      await store.close();
    }
  } finally {
    await server.stop();
  }
}

/** Run the store benchmark on both engines; returns the figures as Markdown. */
export async function benchStore(): Promise<string> {
  // One `end` for both engines: the seeded timestamps and the queries' `now` derive from it.
  const end = Date.now();
  const sqlite = await benchSqlite(end);
  const postgres = await benchPg(end);
  const lines = [
    `Seeded ${DECISIONS.toLocaleString("en")} decided requests with their decisions and ${PENDING.toLocaleString("en")} pending requests with reports over ${REPOSITORIES.toLocaleString("en")} repositories (Zipf), the same rows into each engine.`,
    "",
    "| query | SQLite median | SQLite p99 | PostgreSQL median | PostgreSQL p99 | PostgreSQL target | same answers |",
    "| --- | ---: | ---: | ---: | ---: | :---: | :---: |",
  ];
  let allSame = true;
  for (const [i, query] of QUERIES.entries()) {
    const s = sqlite.measured[i]!;
    const p = postgres.measured[i]!;
    const pMedian = median(p.xs);
    const pP99 = p99(p.xs);
    const target = query.target ? (pMedian <= 2 && pP99 <= 10 ? "met" : "**missed**") : "-";
    const same = s.answers.every((a, k) => a === p.answers[k]);
    allSame &&= same;
    lines.push(
      `| ${query.name} | ${ms(median(s.xs))} | ${ms(p99(s.xs))} | ${ms(pMedian)} | ${ms(pP99)} | ${target} | ${same ? "yes" : "**no**"} |`,
    );
  }
  lines.push(
    "",
    `(${QUERY_RUNS} timed runs per query and engine after ${WARM_UP_RUNS} warm-up runs, the same inputs on both engines; targets: SQLite median <= 5 ms, PostgreSQL over loopback median <= 2 ms and p99 <= 10 ms. "same answers": the first ${ANSWERS_COMPARED} answers of each query are identical on both engines${allSame ? "" : "; **some differ**"}.)`,
    "",
    ...sqlite.lines,
    ...postgres.lines,
  );
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.stdout.write(`${await benchStore()}\n`);
}
