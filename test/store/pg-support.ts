// The PostgreSQL engine of the store suites (test/store/suites): each call opens a store on a new,
// migrated database of the testbed's PostgreSQL, closed after the test file. The watch schedule and
// the Slack ledger share the store's pool and transaction scope, as `serve` wires them.
import { afterAll } from "vitest";
import type { RequestRecord, Store } from "../../src/store/api.js";
import { pgScope } from "../../src/store/pg-scope.js";
import { openPgSlackLedger } from "../../src/store/pg-slack.js";
import { createPgStore, type PgStore } from "../../src/store/pg-store.js";
import { openPgWatchStore } from "../../src/store/pg-watch.js";
import { migratePostgres, openPostgres, type PostgresDb } from "../../src/store/postgres.js";
import { createDatabase } from "../support/postgres.js";
import type { TestStore, TestStoreParts } from "./suites/engine.js";
import { T0 } from "./support.js";

/** The store, watch schedule and Slack ledger over one open PostgreSQL database (one replica's view). */
export function pgStoreParts(db: PostgresDb): TestStoreParts & { store: PgStore } {
  const scope = pgScope(db);
  return {
    store: createPgStore(db),
    watch: openPgWatchStore(scope),
    ledger: openPgSlackLedger(scope),
    rows: async (query) => (await db.pool.query(query)).rows,
  };
}

/** A new, migrated database of the testbed's PostgreSQL, named after `prefix`; returns its URL. */
export async function migratedPgDatabase(prefix: string): Promise<string> {
  const url = await createDatabase(prefix);
  await migratePostgres(url);
  return url;
}

/** A FreshStore on PostgreSQL, databases named after `prefix`. */
export function freshPgStore(prefix: string): () => Promise<TestStoreParts & { store: PgStore }> {
  return async () => {
    const parts = pgStoreParts(openPostgres(await migratedPgDatabase(prefix)));
    afterAll(async () => await parts.store.close());
    return parts;
  };
}

/** A Slack request of `user` for nginx:1 (what the ack path adds), made at T0. */
export function slackRequest(store: Store, user: string): Promise<RequestRecord> {
  return store.createRequest(
    {
      reference: "nginx:1",
      repository: "docker.io/library/nginx",
      tag: "1",
      requestedBy: user,
      source: "slack",
    },
    T0,
  );
}

/** How many requests `user` has in the store that `rows` reads. */
export async function requestsBy(rows: TestStore["rows"], user: string): Promise<number> {
  return Number((await rows(`SELECT count(*) AS n FROM requests WHERE requested_by = '${user}'`))[0]?.n);
}
