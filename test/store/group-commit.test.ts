import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDb, startCheckpointer } from "../../src/store/db.js";
import { groupCommit } from "../../src/store/group-commit.js";
import { tempDir } from "./support.js";

const path = join(tempDir(), "store.db");
const db = openDb(path);
// A second connection to the same file: what another process (or a reader after the ack) sees.
const other = openDb(path);
afterAll(() => {
  other.close();
  db.close();
});

const insert = db.sqlite.prepare("INSERT INTO audit_log (at, actor, action) VALUES ('t', 'test', ?)");
const seenByOther = (action: string) =>
  (
    other.sqlite.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = ?").get(action) as {
      n: number;
    }
  ).n;

/** A committer whose flush the test triggers, and how many flushes were asked for. */
function manual(maxGroup?: number) {
  const flushes: (() => void)[] = [];
  const commit = groupCommit(db, { maxGroup, schedule: (flush) => flushes.push(flush) });
  return { commit, flushes };
}

describe("groupCommit", () => {
  describe("when writes are submitted in the same turn", () => {
    it("runs them in one transaction, scheduled once", async () => {
      const { commit, flushes } = manual();
      const inTx: boolean[] = [];
      const writes = ["a1", "a2", "a3"].map((action) =>
        commit(() => {
          inTx.push(db.sqlite.inTransaction);
          return insert.run(action).changes;
        }),
      );
      expect(flushes).toHaveLength(1);
      expect(seenByOther("a1")).toBe(0);
      flushes[0]!();
      await expect(Promise.all(writes)).resolves.toEqual([1, 1, 1]);
      expect(inTx).toEqual([true, true, true]);
    });

    it("settles each write only once it is committed (visible to another connection)", async () => {
      const { commit, flushes } = manual();
      const seen = commit(() => insert.run("b1")).then(() => seenByOther("b1"));
      flushes[0]!();
      await expect(seen).resolves.toBe(1);
    });
  });

  describe("when one write of the group throws", () => {
    it("rolls back that write alone and rejects it with its error", async () => {
      const { commit, flushes } = manual();
      const ok = commit(() => insert.run("c-ok"));
      const bad = commit(() => {
        insert.run("c-bad");
        throw new Error("refused");
      });
      flushes[0]!();
      await expect(ok).resolves.toBeDefined();
      await expect(bad).rejects.toThrow("refused");
      expect(seenByOther("c-ok")).toBe(1);
      expect(seenByOther("c-bad")).toBe(0);
    });
  });

  describe("when the transaction cannot be committed", () => {
    it("rejects every write of the group and writes none", async () => {
      const { commit, flushes } = manual();
      const writes = [commit(() => insert.run("d1")), commit(() => insert.run("d2"))];
      // Another connection holds the write lock; fail at once instead of waiting the busy timeout.
      db.sqlite.pragma("busy_timeout = 0");
      other.sqlite.exec("BEGIN IMMEDIATE");
      try {
        flushes[0]!();
      } finally {
        other.sqlite.exec("ROLLBACK");
        db.sqlite.pragma("busy_timeout = 5000");
      }
      for (const w of writes) await expect(w).rejects.toMatchObject({ code: "SQLITE_BUSY" });
      expect(seenByOther("d1") + seenByOther("d2")).toBe(0);
    });
  });

  describe("when a write makes SQLite roll back the whole transaction", () => {
    it("runs none of the later writes on their own, and commits nothing of the group", async () => {
      const { commit, flushes } = manual();
      const before = commit(() => insert.run("f-before"));
      // What SQLITE_FULL or an I/O error does: the whole transaction is gone mid-group.
      const fatal = commit(() => {
        db.sqlite.exec("ROLLBACK");
        throw new Error("disk full");
      });
      const after = commit(() => insert.run("f-after"));
      flushes[0]!();
      await expect(fatal).rejects.toThrow();
      await expect(before).rejects.toThrow();
      await expect(after).rejects.toThrow();
      expect(seenByOther("f-before") + seenByOther("f-after")).toBe(0);
      expect(db.sqlite.inTransaction).toBe(false);
    });
  });

  describe("when a group reaches its size limit", () => {
    it("commits at once, without waiting for the scheduled flush", async () => {
      const { commit, flushes } = manual(2);
      const writes = [commit(() => insert.run("e1")), commit(() => insert.run("e2"))];
      await expect(Promise.all(writes)).resolves.toHaveLength(2);
      expect(seenByOther("e1") + seenByOther("e2")).toBe(2);
      // The scheduled flush finds nothing left to do.
      flushes[0]!();
    });
  });
});

describe("startCheckpointer", () => {
  it("turns SQLite's automatic checkpoints off while it runs, and back on when stopped", () => {
    const checkpointer = startCheckpointer(db, { everyMs: 60_000 });
    expect(db.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    checkpointer.stop();
    expect(db.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
  });
});
