// What a store suite runs against: a function that opens an empty store on one engine (SQLite or
// PostgreSQL), migrated, and closes it after the test file.
import type { OpenedStore } from "../../../src/store/service.js";

/** An empty store, and raw SQL for what the Store interface does not show (row counts). */
export interface TestStore {
  store: OpenedStore;
  /** Runs `query` (SQL both engines accept, literals inline) and returns its rows. */
  rows(query: string): Promise<Record<string, unknown>[]>;
}

/** Opens an empty, migrated store; the engine closes it after the test file. */
export type FreshStore = () => Promise<TestStore>;

/** The number of a `SELECT COUNT(*) AS n ...` (PostgreSQL returns a bigint count as text). */
export async function countOf(t: TestStore, query: string): Promise<number> {
  return Number((await t.rows(query))[0]?.n);
}
