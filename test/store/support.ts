// Shared by the store, worker and decisions CLI tests: a fresh store on the real migrations in a
// temp directory, a fixed clock, and reports shaped like the checks produce.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type { Report, Verdict } from "../../src/checks/report.js";
import type { CliIO } from "../../src/cli/args.js";
import type { RequestRecord, Store } from "../../src/store/api.js";
import { openStore, type SqliteStore } from "../../src/store/service.js";
import type { FreshStoreParts } from "./suites/engine.js";

/** A fixed "now" for the tests. */
export const T0 = new Date("2026-03-01T12:00:00.000Z");

/** `T0` plus `days` (fractions allowed). */
export function daysAfter(days: number, from: Date = T0): Date {
  return new Date(from.getTime() + days * 86_400_000);
}

/** `T0` plus `minutes`. */
export function minutesAfter(minutes: number, from: Date = T0): Date {
  return new Date(from.getTime() + minutes * 60_000);
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A new temp directory, removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "image-check-store-"));
  dirs.push(dir);
  return dir;
}

/** A store on a fresh database with every migration applied; closed after the test file. */
export function freshStore(): SqliteStore {
  const store = openStore(join(tempDir(), "store.db"));
  afterAll(async () => await store.close());
  return store;
}

/** The SQLite engine of the store suites (test/store/suites): `freshStore` with its watch schedule, ledger and raw SQL. */
export const sqliteEngine: FreshStoreParts = async () => {
  const store = freshStore();
  return {
    store,
    watch: store.watch(),
    ledger: store.slackLedger(),
    rows: async (query) => store.db.sqlite.prepare(query).all() as Record<string, unknown>[],
  };
};

/** A digest made from a short name, so tests read `digest("a")`. */
export function digest(name: string): string {
  return `sha256:${Buffer.from(name).toString("hex").padEnd(64, "0").slice(0, 64)}`;
}

/** A report@1 for `repository:tag` resolving to `digestOf`, with the given verdict. */
export function makeReport(opts: {
  repository?: string;
  tag?: string;
  digest?: string | null;
  verdict?: Verdict;
  policyVersion?: string;
  checkedAt?: Date;
  platform?: string;
}): Report {
  const full = opts.repository ?? "docker.io/library/python";
  const slash = full.indexOf("/");
  const tag = opts.tag ?? "3.12";
  const d = opts.digest === undefined ? digest("python-3.12") : opts.digest;
  return {
    schema: "image-check/report@1",
    reference: `${full}:${tag}`,
    image: {
      registry: full.slice(0, slash),
      repository: full.slice(slash + 1),
      tag,
      ...(d ? { digest: d, pinned: `${full}:${tag}@${d}` } : {}),
      platform: opts.platform ?? "linux/amd64",
    },
    verdict: opts.verdict ?? "review",
    findings: [],
    facts: { user: "app", labels: {}, history: [], signatures: [], attestations: [] },
    checkedAt: (opts.checkedAt ?? T0).toISOString(),
    durationMs: 5,
    policyVersion: opts.policyVersion ?? "policy-1",
  };
}

/** Create a request and attach its report: a request waiting for a decision (when the verdict is not pass). */
export async function checkedRequest(
  store: Store,
  opts: {
    repository?: string;
    tag?: string;
    digest?: string;
    verdict?: Verdict;
    requestedBy?: string;
    reason?: string;
    now?: Date;
  } = {},
): Promise<RequestRecord> {
  const repository = opts.repository ?? "docker.io/library/python";
  const tag = opts.tag ?? "3.12";
  const now = opts.now ?? T0;
  const req = await store.createRequest(
    {
      reference: `${repository}:${tag}`,
      repository,
      tag,
      requestedBy: opts.requestedBy ?? "U_REQUESTER",
      source: "slack",
      channel: "C_DEV",
      reason: opts.reason ?? "needed for the build",
    },
    now,
  );
  const report = makeReport({
    repository,
    tag,
    digest: opts.digest ?? digest(`${repository}:${tag}`),
    verdict: opts.verdict,
    checkedAt: now,
  });
  return await store.attachReport(req.id, report, now);
}

/** A CliIO that records what a command writes, for running commands in-process. */
export function recordingIO(
  env: NodeJS.ProcessEnv,
  cwd: string,
): { io: CliIO; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const io: CliIO = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env,
    isTTY: false,
    cwd,
  };
  return { io, out: () => out, err: () => err };
}
