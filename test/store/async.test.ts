import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { asyncify, transaction } from "../../src/store/async.js";
import { openDb } from "../../src/store/db.js";
import { tempDir } from "./support.js";

const db = openDb(join(tempDir(), "store.db"));
afterAll(() => db.close());

const insert = db.sqlite.prepare("INSERT INTO audit_log (at, actor, action) VALUES ('t', 'test', ?)");
const count = (action: string) =>
  (db.sqlite.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = ?").get(action) as { n: number }).n;
const statements = asyncify(db, {
  write: (action: string) => insert.run(action).changes,
  count,
});

describe("the asynchronous face of the SQLite statements", () => {
  describe("when a transaction is open and other work of the process writes meanwhile", () => {
    it("runs the outside write after the transaction ended, so a rollback does not take it along", async () => {
      // Another job of this process, started outside the transaction, writes between two of its statements.
      let go = () => {};
      const started = new Promise<void>((resolve) => {
        go = resolve;
      });
      const outside = (async () => {
        await started;
        return statements.write("outside-1");
      })();
      const failed = transaction(db, async () => {
        await statements.write("tx-1");
        go();
        await new Promise((resolve) => setImmediate(resolve));
        await statements.write("tx-2");
        throw new Error("refused");
      });
      await expect(failed).rejects.toThrow("refused");
      await expect(outside).resolves.toBe(1);
      expect(count("tx-1") + count("tx-2")).toBe(0);
      expect(count("outside-1")).toBe(1);
    });
  });

  describe("when a transaction nests another", () => {
    it("rolls back the inner one alone when it throws", async () => {
      await transaction(db, async () => {
        await statements.write("outer");
        await expect(
          transaction(db, async () => {
            await statements.write("inner");
            throw new Error("inner refused");
          }),
        ).rejects.toThrow("inner refused");
      });
      expect(count("outer")).toBe(1);
      expect(count("inner")).toBe(0);
    });
  });

  describe("when a statement throws", () => {
    it("rejects instead of throwing", async () => {
      const failing = asyncify(db, {
        bad: () => db.sqlite.prepare("SELECT * FROM no_such_table").all(),
      });
      await expect(failing.bad()).rejects.toThrow(/no such table/);
    });
  });
});
