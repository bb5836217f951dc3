import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrationsFolder, openDb, pendingMigrations, readJournal } from "../../src/store/db.js";
import { createStore } from "../../src/store/service.js";
import { firstMigrationOnly } from "./migrations-support.js";
import { daysAfter, digest, T0, tempDir } from "./support.js";

describe("migrations", () => {
  it("ship at least two, so an upgrade path is exercised", async () => {
    expect(readJournal(migrationsFolder()).length).toBeGreaterThanOrEqual(2);
  });

  describe("when a database made by the first migration is upgraded", () => {
    const path = join(tempDir(), "v1.db");
    // Written with plain SQL against the first schema, as the first release would have.
    const old = openDb(path, { migrationsFolder: firstMigrationOnly() });
    const at = T0.toISOString();
    old.sqlite
      .prepare(
        `INSERT INTO requests (id, reference, repository, tag, digest, requested_by, source, channel, reason, status,
           verdict, created_at, updated_at, expires_at)
         VALUES ('req_aaaaaaaaaaaaaaaa', 'redis:7', 'docker.io/library/redis', '7', ?, 'U_OLD', 'slack', 'C1',
           'cache', 'approved', 'review', ?, ?, ?)`,
      )
      .run(digest("redis-7"), at, at, daysAfter(90).toISOString());
    old.sqlite
      .prepare(
        `INSERT INTO decisions (request_id, repository, reference, digest, decision, decided_by, requested_by, reason,
           decided_at, expires_at)
         VALUES ('req_aaaaaaaaaaaaaaaa', 'docker.io/library/redis', 'redis:7', ?, 'approved', 'U_IT', 'U_OLD', 'cache', ?, ?)`,
      )
      .run(digest("redis-7"), at, daysAfter(90).toISOString());
    old.sqlite
      .prepare(
        "INSERT INTO audit_log (at, actor, action, request_id, detail) VALUES (?, 'U_IT', 'decision.approved', 'req_aaaaaaaaaaaaaaaa', '{}')",
      )
      .run(at);
    const pendingBefore = pendingMigrations(old.sqlite);
    old.close();

    const db = openDb(path);
    const store = createStore(db);
    afterAll(async () => await store.close());

    it("had migrations pending", async () => {
      expect(pendingBefore).toBe(readJournal(migrationsFolder()).length - 1);
    });

    it("applies every later migration", async () => {
      expect(pendingMigrations(db.sqlite)).toBe(0);
    });

    it("keeps the old decision, readable through the service", async () => {
      expect(await store.currentDecision("docker.io/library/redis", digest("redis-7"), T0)).toMatchObject({
        requestId: "req_aaaaaaaaaaaaaaaa",
        decidedBy: "U_IT",
        status: "approved",
      });
    });

    it("keeps the old request and audit trail", async () => {
      expect(await store.getRequest("req_aaaaaaaaaaaaaaaa", T0)).toMatchObject({
        status: "approved",
        requestedBy: "U_OLD",
      });
      expect((await store.audit("req_aaaaaaaaaaaaaaaa")).map((e) => e.action)).toEqual(["decision.approved"]);
    });

    it("adds what the later migrations bring: the append-only audit log and the job queue", async () => {
      expect(() => db.sqlite.prepare("DELETE FROM audit_log").run()).toThrow();
      expect(db.sqlite.prepare("SELECT COUNT(*) AS n FROM jobs").get()).toEqual({ n: 0 });
      expect(await store.requestsOfJob(1)).toEqual([]);
    });

    it("links each decided request to its own decision", async () => {
      const decision = (await store.currentDecision("docker.io/library/redis", digest("redis-7"), T0))!;
      expect((await store.getRequest("req_aaaaaaaaaaaaaaaa", T0))?.decisionId).toBe(decision.id);
    });

    it("works for new writes after the upgrade", async () => {
      const req = await store.createRequest(
        {
          reference: "redis:8",
          repository: "docker.io/library/redis",
          tag: "8",
          requestedBy: "U_NEW",
          source: "cli",
        },
        T0,
      );
      expect((await store.getRequest(req.id))?.status).toBe("checking");
    });
  });
});
