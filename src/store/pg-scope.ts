/**
 * The transaction scope every PostgreSQL statement module shares (the store, the queue, the watch
 * schedule, the Slack ledger): one per open database. A statement runs on the transaction the
 * calling async context opened (tracked with AsyncLocalStorage), or on the pool when none is open,
 * so a caller's `transaction(fn)` commits the store's and the queue's writes inside `fn` together,
 * as SQLite's gate (./async.ts) does for the embedded store.
 *
 * A transaction opened inside another is a savepoint, written here rather than by drizzle's nested
 * transaction, to spend fewer round trips (each is a statement the connection waits for; on the
 * ack path, where a group commit's item opens one and the store's calls inside it open more, they
 * were 14 of 22 statements per slash command, and acks at 200 concurrent took twice as long):
 * - A savepoint is rolled back to when its function throws, and otherwise left in place: COMMIT
 *   (or the enclosing ROLLBACK TO) ends it, so drizzle's RELEASE after each success bought nothing.
 * - A transaction opened as the first thing inside a savepoint, before any statement ran in it,
 *   shares that savepoint: rolling back to it undoes exactly what the inner function did.
 * https://www.postgresql.org/docs/15/sql-savepoint.html
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
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

/** One level of an open transaction: the transaction itself (no savepoint) or a savepoint in it. */
interface Frame {
  readonly orm: PgOrm;
  /** The savepoint's name; null for the transaction itself (BEGIN), which cannot be rolled back to. */
  readonly savepoint: string | null;
  /** No statement ran at this level since it began (or since it was rolled back to). */
  fresh: boolean;
  /** A transaction opened inside this one is running. */
  child: boolean;
  /** Set once the transaction (the top level, shared by every frame of it) committed or rolled back. */
  readonly ended: { value: boolean };
}

/** Savepoint names, unique in the process, so ROLLBACK TO always finds the level that set it. */
let savepoints = 0;

/** The scope of `db`, the same object for every module that asks. */
export function pgScope(db: PostgresDb): PgScope {
  const existing = scopes.get(db);
  if (existing) return existing;
  const current = new AsyncLocalStorage<Frame>();
  const root = db.orm as unknown as PgOrm;
  const q = (): PgOrm => {
    const frame = current.getStore();
    if (!frame) return root;
    // Work a transaction's function left running (a promise it did not await) must not send
    // statements after COMMIT or ROLLBACK, outside the transaction, on a connection back in the pool.
    if (frame.ended.value) throw new Error("pg-scope: a statement after its transaction ended");
    // Statements take their handle from here, so asking is when the level stops being fresh.
    frame.fresh = false;
    return frame.orm;
  };
  /** Run a savepoint statement at `frame`'s level, never once its transaction ended (see `q`). */
  const atLevel = async (frame: Frame, statement: string): Promise<void> => {
    if (frame.ended.value) throw new Error("pg-scope: a statement after its transaction ended");
    await frame.orm.execute(sql.raw(statement));
  };
  const rollbackTo = (frame: Frame, name: string) => atLevel(frame, `ROLLBACK TO SAVEPOINT ${name}`);

  /**
   * A transaction on a connection of its own, checked out here rather than by drizzle's
   * `transaction()`, which loses the connection for good when BEGIN fails (a server restart): it
   * sends BEGIN before the block that releases it. A connection that fails BEGIN or ROLLBACK is
   * destroyed on release, not handed to the next caller.
   */
  const topLevel = async <T>(fn: () => Promise<T>): Promise<T> => {
    const client = await db.pool.connect();
    const ended = { value: false };
    let broken: Error | undefined;
    try {
      try {
        await client.query("BEGIN");
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        throw err;
      }
      try {
        // Without the relational schema: building drizzle over one client is then ~3 µs.
        const orm = drizzle(client) as unknown as PgOrm;
        const out = await current.run({ orm, savepoint: null, fresh: true, child: false, ended }, fn);
        ended.value = true;
        await client.query("COMMIT");
        return out;
      } catch (err) {
        ended.value = true;
        try {
          await client.query("ROLLBACK");
        } catch (rollbackErr) {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      }
    } finally {
      client.release(broken);
    }
  };

  const tx = async <T>(fn: () => Promise<T>): Promise<T> => {
    const outer = current.getStore();
    if (!outer) return topLevel(fn);
    // Savepoints nest, they do not run side by side: a rollback to one would undo, and end, a
    // sibling's savepoint opened after it. Run the store's calls of one transaction one at a time.
    if (outer.child) throw new Error("pg-scope: two transactions at once inside one transaction");
    outer.child = true;
    try {
      if (outer.savepoint !== null && outer.fresh) {
        // Nothing ran since the enclosing savepoint: it is this transaction's savepoint too.
        const shared: Frame = { ...outer, fresh: true, child: false };
        try {
          const out = await current.run(shared, fn);
          outer.fresh = shared.fresh;
          return out;
        } catch (err) {
          await rollbackTo(outer, outer.savepoint);
          outer.fresh = true;
          throw err;
        }
      }
      const name = `ick_sp_${++savepoints}`;
      outer.fresh = false;
      await atLevel(outer, `SAVEPOINT ${name}`);
      try {
        return await current.run({ ...outer, savepoint: name, fresh: true, child: false }, fn);
      } catch (err) {
        await rollbackTo(outer, name);
        throw err;
      }
    } finally {
      outer.child = false;
    }
  };

  const scope: PgScope = {
    db,
    q,
    tx,
    inTransaction: () => current.getStore() !== undefined,
  };
  scopes.set(db, scope);
  return scope;
}

/** Statement names by SQL text, shared by every store of the process (the name derives from the text). */
const statementNames = new Map<string, string>();

/**
 * Run a statement as a named one: PostgreSQL parses it once per connection and, after a few runs,
 * keeps a generic plan, instead of parsing and planning it on every call. On these tables (five or
 * six indexes each) planning a lookup costs more than running it: on bench/store.ts's data (1M
 * decisions) the standing-decision lookup took 0.45 ms unnamed against 0.27 ms named over
 * loopback, of which execution is 0.08 ms (EXPLAIN ANALYZE). The values stay parameters, so one shape of statement is one name;
 * the name is a hash of the text, so two stores on one connection never give one name two texts.
 */
export function named<T>(query: {
  toSQL(): { sql: string };
  prepare(name: string): { execute(): Promise<T> };
}): Promise<T> {
  return query.prepare(statementName(query.toSQL().sql)).execute();
}

/** The name of the statement `text`: a hash of it, remembered. */
export function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `ick_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`;
    statementNames.set(text, name);
  }
  return name;
}
