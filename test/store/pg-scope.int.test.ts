// How the PostgreSQL store's transactions behave when things go wrong: the server ends the
// connection in the middle of one (a restart, a failover, pg_terminate_backend), or a caller opens
// two at once inside one.
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { pgScope } from "../../src/store/pg-scope.js";
import { openPostgres } from "../../src/store/postgres.js";
import { migratedPgDatabase, pgStoreParts, requestsBy, slackRequest } from "./pg-support.js";

describe("the PostgreSQL store's transactions", async () => {
  const url = await migratedPgDatabase("pg_scope");
  const db = openPostgres(url, { max: 2 });
  const { store, rows } = pgStoreParts(db);
  const admin = pgStoreParts(openPostgres(url));
  afterAll(async () => {
    await store.close();
    await admin.store.close();
  });
  const { q } = pgScope(db);
  const request = (user: string) => slackRequest(store, user);
  const countOf = (user: string) => requestsBy(rows, user);

  it("reject the caller, keep the process and write nothing, when the server ends the connection midway", async () => {
    const ended = store.transaction(async () => {
      await request("U_CUT");
      const [me] = (await q().execute(sql`SELECT pg_backend_pid() AS pid`)).rows as { pid: number }[];
      await admin.rows(`SELECT pg_terminate_backend(${me!.pid})`);
      await request("U_CUT");
    });
    await expect(ended).rejects.toThrow();
    expect(await countOf("U_CUT")).toBe(0);
  });

  it("still have every connection of the pool afterwards", async () => {
    // Two at once on a pool of two: a slot lost to the broken connection would hang the second.
    await Promise.all([
      store.transaction(() => request("U_AFTER1")),
      store.transaction(() => request("U_AFTER2")),
    ]);
    expect([await countOf("U_AFTER1"), await countOf("U_AFTER2")]).toEqual([1, 1]);
  });

  it("refuse two transactions at once inside one, rather than let one's rollback undo the other", async () => {
    const both = store.transaction(async () => {
      await Promise.all([
        store.transaction(() => request("U_SIDE1")),
        store.transaction(() => request("U_SIDE2")),
      ]);
    });
    await expect(both).rejects.toThrow("two transactions at once inside one transaction");
    expect([await countOf("U_SIDE1"), await countOf("U_SIDE2")]).toEqual([0, 0]);
  });

  it("still nest: a savepoint that throws is undone alone, and the transaction around it commits", async () => {
    await store.transaction(async () => {
      await request("U_OUTER");
      await expect(
        store.transaction(async () => {
          await request("U_INNER");
          throw new Error("inner refused");
        }),
      ).rejects.toThrow("inner refused");
      await request("U_OUTER");
    });
    expect([await countOf("U_OUTER"), await countOf("U_INNER")]).toEqual([2, 0]);
  });
});
