/**
 * The store's interfaces are asynchronous (a PostgreSQL store answers over the network); SQLite's
 * statements stay synchronous underneath (better-sqlite3 is synchronous and fast). This module
 * turns the synchronous SQLite statements into the asynchronous interfaces, and keeps one rule
 * that synchronous code got for free: nothing runs inside someone else's transaction.
 *
 * A transaction's function is asynchronous now, so other work of the process can run between its
 * statements (another worker's job, a slash command). On one SQLite connection that work would
 * join the open transaction: committed or rolled back with it, although its caller was told
 * nothing of it. So each database has a gate: while a transaction (or a group commit) is open,
 * calls from outside it wait until it ended; calls from inside it (the same async context,
 * tracked with AsyncLocalStorage) run at once, nested transactions as savepoints.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Db } from "./db.js";

/** `T` with every method made Promise-returning, except the keys `K` (kept as they are). */
export type Async<T, K extends keyof T = never> = {
  [P in keyof T]: P extends K
    ? T[P]
    : T[P] extends (...args: infer A) => infer R
      ? (...args: A) => Promise<Awaited<R>>
      : T[P];
};

interface Gate {
  held: boolean;
  waiters: (() => void)[];
  /** Savepoint names in use, for nesting. */
  depth: number;
}

const gates = new WeakMap<Db, Gate>();
/**
 * The transaction the current async context runs inside. `open` goes false when it ended, so a
 * timer or callback started inside it and run later does not count as inside.
 */
interface Scope {
  db: Db;
  open: boolean;
}
const inside = new AsyncLocalStorage<Scope>();

function isInside(db: Db): boolean {
  const s = inside.getStore();
  return s !== undefined && s.db === db && s.open;
}

async function within<T>(db: Db, fn: () => Promise<T> | T): Promise<T> {
  const scope: Scope = { db, open: true };
  try {
    return await inside.run(scope, fn);
  } finally {
    scope.open = false;
  }
}

function gateOf(db: Db): Gate {
  let g = gates.get(db);
  if (!g) {
    g = { held: false, waiters: [], depth: 0 };
    gates.set(db, g);
  }
  return g;
}

function release(g: Gate): void {
  const next = g.waiters.shift();
  if (next) next();
  else g.held = false;
}

/** Whether the current async context runs inside a transaction on `db`. */
export function inTransaction(db: Db): boolean {
  return isInside(db);
}

/**
 * Run the synchronous `fn` on `db` as an asynchronous call: at once when no transaction is open
 * (or when called from inside the open one), else once it ended. A throw becomes a rejection.
 */
export function run<T>(db: Db, fn: () => T): Promise<T> {
  const g = gateOf(db);
  if (!g.held || isInside(db)) {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise<void>((resolve) => g.waiters.push(resolve)).then(() => {
    try {
      return fn();
    } finally {
      release(g);
    }
  });
}

/**
 * Run the asynchronous `fn` in one IMMEDIATE write transaction on `db` (a savepoint when called
 * inside one). Its statements, and those of nested calls, commit together or not at all; calls
 * from outside wait until it ended. With the gate free, BEGIN runs before this returns.
 */
export function transaction<T>(db: Db, fn: () => Promise<T> | T): Promise<T> {
  if (isInside(db)) return savepoint(db, fn);
  return exclusive(db, async () => {
    db.sqlite.exec("BEGIN IMMEDIATE");
    try {
      const out = await fn();
      db.sqlite.exec("COMMIT");
      return out;
    } catch (err) {
      if (db.sqlite.inTransaction) db.sqlite.exec("ROLLBACK");
      throw err;
    }
  });
}

async function savepoint<T>(db: Db, fn: () => Promise<T> | T): Promise<T> {
  const g = gateOf(db);
  const name = `sp_${++g.depth}`;
  db.sqlite.exec(`SAVEPOINT ${name}`);
  try {
    const out = await fn();
    db.sqlite.exec(`RELEASE ${name}`);
    return out;
  } catch (err) {
    if (db.sqlite.inTransaction) db.sqlite.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
    throw err;
  } finally {
    g.depth--;
  }
}

/**
 * Hold `db`'s gate while `fn` runs (transactions, and the group commit, which opens its
 * transaction itself); `fn`'s async context counts as inside the transaction. With the gate free,
 * `fn` starts before this returns.
 */
export function exclusive<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  const g = gateOf(db);
  const go = (): Promise<T> => within(db, fn).finally(() => release(g));
  if (!g.held) {
    g.held = true;
    return go();
  }
  return new Promise<void>((resolve) => g.waiters.push(resolve)).then(go);
}
/**
 * The asynchronous face of a synchronous object over `db`: each method runs through `run` (so it
 * waits for another context's open transaction), except the keys in `keep`.
 */
export function asyncify<T extends object, K extends keyof T = never>(
  db: Db,
  sync: T,
  keep: readonly K[] = [],
): Async<T, K> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(sync) as (keyof T & string)[]) {
    const value = sync[key];
    if (typeof value !== "function" || (keep as readonly (keyof T)[]).includes(key)) {
      out[key] = value;
      continue;
    }
    const method = value as (...args: unknown[]) => unknown;
    out[key] = (...args: unknown[]) => run(db, () => method.apply(sync, args));
  }
  return out as Async<T, K>;
}
