/**
 * The transaction scope every PostgreSQL statement module shares (the store, the queue, the watch
 * schedule, the Slack ledger): one per open database. A statement runs on the transaction the
 * calling async context opened (tracked with AsyncLocalStorage), or on the pool when none is open,
 * so a caller's `transaction(fn)` commits the store's and the queue's writes inside `fn` together,
 * as SQLite's gate (./async.ts) does for the embedded store.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type { PostgresDb } from "./postgres.js";

/** drizzle over the pool or over one open transaction; statements take it from `q()`. */
export type PgOrm = NodePgDatabase<Record<string, unknown>>;

/** Where a PostgreSQL statement runs. */
export interface PgScope {
  readonly db: PostgresDb;
  /** The open transaction of this async context, or the pool. */
  q(): PgOrm;
  /** Run `fn` in one transaction (a savepoint when already inside one); statements inside it join it. */
  tx<T>(fn: () => Promise<T>): Promise<T>;
  /** Whether this async context runs inside a transaction of this database. */
  inTransaction(): boolean;
}

const scopes = new WeakMap<PostgresDb, PgScope>();

/** The scope of `db`, the same object for every module that asks. */
export function pgScope(db: PostgresDb): PgScope {
  const existing = scopes.get(db);
  if (existing) return existing;
  const current = new AsyncLocalStorage<PgOrm>();
  const root = db.orm as unknown as PgOrm;
  const q = (): PgOrm => current.getStore() ?? root;
  const scope: PgScope = {
    db,
    q,
    tx: (fn) => q().transaction((t) => current.run(t as unknown as PgOrm, fn)),
    inTransaction: () => current.getStore() !== undefined,
  };
  scopes.set(db, scope);
  return scope;
}
