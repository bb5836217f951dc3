/**
 * Advisory locks for the schedulers (watch, expiry, audit) when several replicas share one
 * PostgreSQL store: each round runs under a lock named for the scheduler, and a replica that
 * cannot take it skips the round, so one replica runs each round. The lock is a session lock held
 * on one pooled connection: if the replica dies, its connection closes and PostgreSQL releases the
 * lock, so no round is blocked by a dead holder.
 * https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS
 */
import type { PostgresDb } from "./postgres.js";

/** A held advisory lock. */
export interface AdvisoryLock {
  /** Unlock and hand the connection back to the pool. Idempotent. */
  release(): Promise<void>;
}

/**
 * Take the advisory lock named `name` without waiting; null when another session holds it. The
 * name is hashed to PostgreSQL's 64-bit lock key with hashtextextended, so callers share a lock by
 * sharing its name ("image-check:watch").
 */
export async function tryAdvisoryLock(db: PostgresDb, name: string): Promise<AdvisoryLock | null> {
  const client = await db.pool.connect();
  let locked = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked",
      [name],
    );
    locked = rows[0]?.locked === true;
  } finally {
    if (!locked) client.release();
  }
  if (!locked) return null;
  // A checked-out client reports a lost connection (server restart, pg_terminate_backend) as an
  // 'error' event, which would crash the process without a listener; the lock is gone with the
  // session, and release() below then discards the client.
  const onError = (): void => {};
  client.on("error", onError);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await client.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [name]);
        client.release();
      } catch (err) {
        // The connection is broken (the server ended it): its session, and so the lock, is gone.
        // Destroy it rather than return it to the pool.
        client.release(err instanceof Error ? err : true);
      } finally {
        client.off("error", onError);
      }
    },
  };
}

/**
 * Run `round` while holding the lock `name`, or skip it when another replica holds the lock.
 * The lock is released when the round ends, however it ends.
 */
export async function withAdvisoryLock<T>(
  db: PostgresDb,
  name: string,
  round: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  const lock = await tryAdvisoryLock(db, name);
  if (lock === null) return { ran: false };
  try {
    return { ran: true, value: await round() };
  } finally {
    await lock.release();
  }
}
