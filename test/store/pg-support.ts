// The PostgreSQL engine of the store suites (test/store/suites): each call opens a store on a new,
// migrated database of the testbed's PostgreSQL, closed after the test file.
import { afterAll } from "vitest";
import { createPgStore, type PgStore } from "../../src/store/pg-store.js";
import { migratePostgres, openPostgres } from "../../src/store/postgres.js";
import { createDatabase } from "../support/postgres.js";
import type { TestStore } from "./suites/engine.js";

/** A FreshStore on PostgreSQL, databases named after `prefix`. */
export function freshPgStore(prefix: string): () => Promise<TestStore & { store: PgStore }> {
  return async () => {
    const url = await createDatabase(prefix);
    await migratePostgres(url);
    const db = openPostgres(url);
    const store = createPgStore(db);
    afterAll(async () => await store.close());
    return { store, rows: async (query) => (await db.pool.query(query)).rows };
  };
}
