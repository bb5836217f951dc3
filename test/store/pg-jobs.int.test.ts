import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatements, NewJobRow } from "../../src/store/jobs.js";
import { pgJobStatements } from "../../src/store/pg-jobs.js";
import { pgScope } from "../../src/store/pg-scope.js";
import { migratePostgres, openPostgres, type PostgresDb } from "../../src/store/postgres.js";
import { createDatabase } from "../support/postgres.js";

const T0 = new Date("2026-03-01T12:00:00.000Z");
const at = (minutes: number): string => new Date(T0.getTime() + minutes * 60_000).toISOString();

function job(kind: string, over: Partial<NewJobRow> = {}): NewJobRow {
  return { kind, payload: "{}", maxAttempts: 5, availableAt: at(0), key: null, at: at(0), ...over };
}

const opened: PostgresDb[] = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
});

async function freshQueue(prefix: string, connections = 1): Promise<{ url: string; dbs: PostgresDb[] }> {
  const url = await createDatabase(prefix);
  await migratePostgres(url);
  const dbs = Array.from({ length: connections }, () => openPostgres(url, { max: 1 }));
  opened.push(...dbs);
  return { url, dbs };
}

describe("the PostgreSQL job claims", () => {
  describe("when two connections race to claim 1000 jobs", () => {
    const total = 1000;
    let claimed: number[][];
    let table: JobStatements;
    let claimsPerSecond: number;
    beforeAll(async () => {
      const { dbs } = await freshQueue("claims_race", 3);
      table = pgJobStatements(pgScope(dbs[2]!));
      await dbs[2]!.orm.execute(
        `INSERT INTO jobs (kind, payload, status, attempts, max_attempts, available_at, created_at, updated_at)
         SELECT 'check', '{}', 'queued', 0, 5, '${at(0)}', '${at(0)}', '${at(0)}' FROM generate_series(1, ${total})`,
      );
      const began = performance.now();
      claimed = await Promise.all(
        dbs.slice(0, 2).map(async (db, i) => {
          const mine = pgJobStatements(pgScope(db));
          const ids: number[] = [];
          for (;;) {
            const row = await mine.claimNext(["check"], `worker-${i}`, at(5), at(1));
            if (!row) return ids;
            ids.push(row.id);
          }
        }),
      );
      claimsPerSecond = Math.round(total / ((performance.now() - began) / 1000));
      process.stderr.write(`pg-jobs: ${total} claims by 2 connections at ${claimsPerSecond}/s\n`);
    });

    it("claims every job exactly once", () => {
      const all = claimed.flat();
      expect(all).toHaveLength(total);
      expect(new Set(all).size).toBe(total);
    });

    it("lets both connections claim (they did race)", () => {
      expect(claimed[0]!.length).toBeGreaterThan(0);
      expect(claimed[1]!.length).toBeGreaterThan(0);
    });

    it("starts one attempt per job, owned by the connection that claimed it", async () => {
      const [first] = claimed;
      const row = await table.get(first![0]!);
      expect(row).toMatchObject({
        status: "running",
        attempts: 1,
        leaseOwner: "worker-0",
        leaseExpiresAt: at(5),
      });
      const { rows } = await opened[opened.length - 1]!.pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM jobs WHERE attempts <> 1",
      );
      expect(Number(rows[0]!.n)).toBe(0);
    });
  });

  describe("when a worker holds a lease", () => {
    let a: JobStatements;
    let b: JobStatements;
    let id: number;
    beforeAll(async () => {
      const { dbs } = await freshQueue("claims_lease", 2);
      a = pgJobStatements(pgScope(dbs[0]!));
      b = pgJobStatements(pgScope(dbs[1]!));
      id = (await a.insert(job("check"))).row.id;
      expect(await a.claimNext(["check"], "A", at(10), at(1))).toMatchObject({ id, attempts: 1 });
    });

    it("no one else claims the job before the lease expires", async () => {
      expect(await b.claimNext(["check"], "B", at(15), at(9))).toBeUndefined();
    });

    it("the owner renews it, and only the owner", async () => {
      expect(await b.renew(id, "B", at(20), at(9))).toBe(false);
      expect(await a.renew(id, "A", at(12), at(9))).toBe(true);
      expect(await b.claimNext(["check"], "B", at(15), at(11))).toBeUndefined();
    });

    describe("and dies, so the lease expires", () => {
      it("another worker claims the job again, as a second attempt", async () => {
        expect(await b.claimNext(["check"], "B", at(20), at(13))).toMatchObject({
          id,
          attempts: 2,
          leaseOwner: "B",
        });
      });

      it("the first worker can no longer renew or complete it", async () => {
        expect(await a.renew(id, "A", at(30), at(14))).toBe(false);
        expect(await a.complete(id, "A", '"late"', at(14))).toBe(false);
      });

      it("the new owner completes it", async () => {
        expect(await b.complete(id, "B", '"ok"', at(14))).toBe(true);
        expect(await a.get(id)).toMatchObject({
          status: "done",
          result: '"ok"',
          leaseOwner: null,
          finishedAt: at(14),
        });
        expect(await a.claimNext(["check"], "C", at(40), at(30))).toBeUndefined();
      });
    });
  });

  describe("when jobs of several kinds are waiting", () => {
    let table: JobStatements;
    beforeAll(async () => {
      const { dbs } = await freshQueue("claims_kinds");
      table = pgJobStatements(pgScope(dbs[0]!));
      await table.insert(job("slack.post", { availableAt: at(0) }));
      await table.insert(job("check", { availableAt: at(2) }));
      await table.insert(job("check", { availableAt: at(1) }));
      await table.insert(job("check", { availableAt: at(60) }));
    });

    it("claims only the kinds asked for, the one due longest ago first, and none not yet due", async () => {
      const first = await table.claimNext(["check"], "W", at(10), at(5));
      const second = await table.claimNext(["check"], "W", at(10), at(5));
      const third = await table.claimNext(["check"], "W", at(10), at(5));
      expect([first?.availableAt, second?.availableAt, third]).toEqual([at(1), at(2), undefined]);
      expect(await table.claimNext(["slack.post"], "W", at(10), at(5))).toMatchObject({ kind: "slack.post" });
    });
  });

  describe("when the same work is enqueued twice", () => {
    it("shares one job while it is active, and starts a new one once it is done", async () => {
      const { dbs } = await freshQueue("claims_key", 2);
      const [a, b] = dbs.map((db) => pgJobStatements(pgScope(db))) as [JobStatements, JobStatements];
      const [one, two] = await Promise.all([
        a.insert(job("check", { key: "check:redis" })),
        b.insert(job("check", { key: "check:redis" })),
      ]);
      expect([one.created, two.created].sort()).toEqual([false, true]);
      expect(one.row.id).toBe(two.row.id);
      await a.claimNext(["check"], "W", at(10), at(1));
      expect(await a.complete(one.row.id, "W", null, at(2))).toBe(true);
      const three = await a.insert(job("check", { key: "check:redis", at: at(3) }));
      expect(three.created).toBe(true);
      expect(three.row.id).not.toBe(one.row.id);
    });
  });
});
