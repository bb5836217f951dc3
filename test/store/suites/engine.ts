// What a store suite runs against: a function that opens an empty store on one engine (SQLite or
// PostgreSQL), migrated, and closes it after the test file.
import type { OpenedStore } from "../../../src/store/service.js";
import type { SlackLedger } from "../../../src/store/slack.js";
import type { WatchStore } from "../../../src/store/watch.js";

/** An empty store, and raw SQL for what the Store interface does not show (row counts). */
export interface TestStore {
  store: OpenedStore;
  /** Runs `query` (SQL both engines accept, literals inline) and returns its rows. */
  rows(query: string): Promise<Record<string, unknown>[]>;
}

/** A TestStore with the statement sets that share its database: the watch schedule and the Slack ledger. */
export interface TestStoreParts extends TestStore {
  watch: WatchStore;
  ledger: SlackLedger;
}

/** Opens an empty, migrated store; the engine closes it after the test file. */
export type FreshStore = () => Promise<TestStore>;

/** Opens an empty, migrated store with its watch schedule and Slack ledger; closed after the test file. */
export type FreshStoreParts = () => Promise<TestStoreParts>;

/** The number of a `SELECT COUNT(*) AS n ...` (PostgreSQL returns a bigint count as text). */
export async function countOf(t: TestStore, query: string): Promise<number> {
  return Number((await t.rows(query))[0]?.n);
}
