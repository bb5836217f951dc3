// The watch store suite on SQLite, and what only the SQLite store shows: the decisions command
// reading the revocation from the database file.
import { describe, expect, it } from "vitest";
import { readDecisions } from "../../src/cli/decisions.js";
import { approved, hoursAfter, watchSuite } from "./suites/watch.js";
import { freshStore, sqliteEngine } from "./support.js";

watchSuite(sqliteEngine);

describe("the SQLite watch store", () => {
  describe("when a re-check revokes the approval", () => {
    it("shows in decisions --status revoked as JSON rows", async () => {
      const store = freshStore();
      const watch = store.watch();
      await approved(store, "a");
      const [due] = await watch.schedule(hoursAfter(25), { intervalHours: 24, limit: 10 });
      await watch.recordRecheck({
        ...due!,
        now: hoursAfter(25),
        intervalHours: 24,
        finished: true,
        changes: [],
        revoke: { reason: "x" },
      });
      const rows = await readDecisions(store.db.path, { status: "revoked" }, 10, hoursAfter(26));
      expect(rows.map((r) => [r.status, r.decidedBy, r.reason])).toEqual([["revoked", "watch", "x"]]);
    });
  });
});
