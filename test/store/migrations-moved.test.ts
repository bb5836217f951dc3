import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { migrationsFolder, openDb, pendingMigrations, readJournal } from "../../src/store/db.js";
import { createStore } from "../../src/store/service.js";
import { digest, T0, tempDir } from "./support.js";

/** The migrations folder as it shipped before the move to migrations/sqlite. */
const BEFORE_MOVE = join(import.meta.dirname, "fixtures", "migrations-before-move");

describe("the SQLite migrations folder", () => {
  it("ships under migrations/sqlite", async () => {
    expect(migrationsFolder()).toMatch(/[/\\]migrations[/\\]sqlite$/);
  });

  describe("when a store made with the migrations of the old layout is opened by the new code", async () => {
    const path = join(tempDir(), "before-move.db");
    const old = openDb(path, { migrationsFolder: BEFORE_MOVE });
    const at = T0.toISOString();
    old.sqlite
      .prepare(
        `INSERT INTO requests (id, reference, repository, tag, digest, requested_by, source, status, created_at, updated_at)
         VALUES ('req_bbbbbbbbbbbbbbbb', 'redis:7', 'docker.io/library/redis', '7', ?, 'U_OLD', 'cli', 'pending', ?, ?)`,
      )
      .run(digest("redis-7"), at, at);
    old.sqlite
      .prepare(
        "INSERT INTO audit_log (at, actor, action, request_id, detail) VALUES (?, 'U_OLD', 'request.created', 'req_bbbbbbbbbbbbbbbb', '{}')",
      )
      .run(at);
    const appliedBefore = old.sqlite.prepare("SELECT id, hash, created_at FROM __drizzle_migrations").all();
    old.close();

    const db = openDb(path);
    const appliedAfter = db.sqlite.prepare("SELECT id, hash, created_at FROM __drizzle_migrations").all();
    const store = createStore(db);
    const request = await store.getRequest("req_bbbbbbbbbbbbbbbb");
    const trail = await store.audit("req_bbbbbbbbbbbbbbbb");
    const pendingNow = pendingMigrations(db.sqlite);
    db.close();

    it("finds nothing to apply", async () => {
      expect(pendingNow).toBe(0);
    });

    it("re-applies nothing: it only adds the migrations written after the move", async () => {
      const added = readJournal(migrationsFolder()).length - readJournal(BEFORE_MOVE).length;
      expect(appliedBefore.length).toBe(readJournal(BEFORE_MOVE).length);
      expect(appliedAfter.slice(0, appliedBefore.length)).toEqual(appliedBefore);
      expect(appliedAfter.length).toBe(appliedBefore.length + added);
    });

    it("keeps the data", async () => {
      expect(request).toMatchObject({ id: "req_bbbbbbbbbbbbbbbb", status: "pending", requestedBy: "U_OLD" });
      expect(trail.map((e) => e.action)).toEqual(["request.created"]);
    });
  });
});
