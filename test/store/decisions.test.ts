import { describe, expect, it } from "vitest";
import { decisionsSuite } from "./suites/decisions.js";
import { checkedRequest, freshStore, sqliteEngine, T0 } from "./support.js";

decisionsSuite(sqliteEngine);

// What only SQLite's own statements can show: its triggers, and a failure injected half-way.
describe("the SQLite store's decisions", () => {
  const store = freshStore();
  const approve = (requestId: string) =>
    store.decide({
      requestId,
      decision: "approved",
      decidedBy: "U_APPROVER",
      isApprover: true,
      now: T0,
      expireDays: 90,
    });

  describe("the audit log", async () => {
    // Triggers fire per row: the log needs entries.
    await approve((await checkedRequest(store, { repository: "docker.io/library/audited" })).id);

    it("refuses UPDATE", async () => {
      expect(() => store.db.sqlite.prepare("UPDATE audit_log SET actor = 'someone else'").run()).toThrow(
        expect.objectContaining({ code: "SQLITE_CONSTRAINT_TRIGGER" }),
      );
    });

    it("refuses DELETE", async () => {
      expect(() => store.db.sqlite.prepare("DELETE FROM audit_log").run()).toThrow(
        expect.objectContaining({ code: "SQLITE_CONSTRAINT_TRIGGER" }),
      );
    });
  });

  describe("a decision that fails half-way", () => {
    it("writes neither the decision nor its audit entry", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/atomic" });
      // Break the audit insert: the decision must roll back with it.
      store.db.sqlite.exec(
        "CREATE TEMP TRIGGER break_audit BEFORE INSERT ON audit_log WHEN NEW.action LIKE 'decision.%' BEGIN SELECT RAISE(ABORT, 'boom'); END",
      );
      try {
        await expect(async () => await approve(req.id)).rejects.toThrow();
      } finally {
        store.db.sqlite.exec("DROP TRIGGER temp.break_audit");
      }
      expect((await store.getRequest(req.id))?.status).toBe("pending");
      expect((await store.history("docker.io/library/atomic", {}, T0)).items).toEqual([]);
    });
  });
});
