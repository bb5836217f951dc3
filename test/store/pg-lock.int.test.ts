import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdvisoryLock, tryAdvisoryLock, withAdvisoryLock } from "../../src/store/pg-lock.js";
import { openPostgres, type PostgresDb } from "../../src/store/postgres.js";
import { createDatabase } from "../support/postgres.js";

describe("the PostgreSQL advisory lock", () => {
  // Two replicas: two pools on one database.
  let one: PostgresDb;
  let two: PostgresDb;
  beforeAll(async () => {
    const url = await createDatabase("advisory");
    one = openPostgres(url);
    two = openPostgres(url);
  });
  afterAll(async () => {
    await Promise.all([one.close(), two.close()]);
  });

  describe("when one replica holds it", () => {
    let held: AdvisoryLock | null;
    beforeAll(async () => {
      held = await tryAdvisoryLock(one, "image-check:watch");
    });

    it("the other cannot take it, nor can the holder take it twice from another connection", async () => {
      expect(held).not.toBeNull();
      expect(await tryAdvisoryLock(two, "image-check:watch")).toBeNull();
      expect(await tryAdvisoryLock(one, "image-check:watch")).toBeNull();
    });

    it("a lock of another name is free", async () => {
      const other = await tryAdvisoryLock(two, "image-check:expiry");
      expect(other).not.toBeNull();
      await other!.release();
    });

    it("the other takes it once it is released", async () => {
      await held!.release();
      await held!.release();
      const next = await tryAdvisoryLock(two, "image-check:watch");
      expect(next).not.toBeNull();
      await next!.release();
    });
  });

  describe("when the replica holding it dies (its connection ends)", () => {
    it("the lock is free again", async () => {
      const held = await tryAdvisoryLock(one, "image-check:audit");
      expect(held).not.toBeNull();
      await two.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()",
      );
      let taken: AdvisoryLock | null = null;
      // pg_terminate_backend signals the backend; it releases its locks as it exits.
      for (let i = 0; i < 100 && taken === null; i++) {
        taken = await tryAdvisoryLock(two, "image-check:audit");
        if (taken === null) await new Promise((r) => setTimeout(r, 20));
      }
      expect(taken).not.toBeNull();
      await taken!.release();
      await held!.release();
    });
  });

  describe("withAdvisoryLock", () => {
    it("runs a round on one replica only while both try at once", async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let runs = 0;
      const round = async (): Promise<string> => {
        runs++;
        await gate;
        return "done";
      };
      const first = withAdvisoryLock(one, "image-check:round", round);
      // The first round is running (holding the lock) until the gate opens.
      while (runs === 0) await new Promise((r) => setTimeout(r, 5));
      const second = await withAdvisoryLock(two, "image-check:round", round);
      release();
      expect(await first).toEqual({ ran: true, value: "done" });
      expect(second).toEqual({ ran: false });
      expect(runs).toBe(1);
    });

    it("releases the lock when the round throws", async () => {
      await expect(
        withAdvisoryLock(one, "image-check:fails", async () => {
          throw new Error("round failed");
        }),
      ).rejects.toThrow("round failed");
      expect(await withAdvisoryLock(two, "image-check:fails", async () => 1)).toEqual({
        ran: true,
        value: 1,
      });
    });
  });
});
