/**
 * The PostgreSQL store's administration: migrations (migrations/postgres, drizzle's node-postgres
 * migrator) and backups (pg_dump). The store itself, the queue and the group commit still run on
 * SQLite only: they are synchronous over better-sqlite3, and node-postgres is asynchronous, so
 * they move when the store interface does (docs/postgres.md). node-postgres types stay inside
 * this module.
 */
import { execFile } from "node:child_process";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { StoreError } from "./api.js";
import { findMigrationsFolder, readJournal } from "./db.js";
import * as pgSchema from "./schema.pg.js";

/** Defaults, each with why. */
export const POSTGRES_DEFAULTS = {
  /** Fail a migrate or backup against an unreachable server quickly instead of hanging a deploy. */
  connectTimeoutMs: 10_000,
  /**
   * Key of the session advisory lock `migrate` holds: replicas that start (or deploy jobs that
   * run) together migrate one after the other, and the second finds nothing left to do.
   * "ICK1" as in SQLite's application_id, plus 1 for "migrations".
   */
  migrateLockKey: 0x49434b31_01,
  /**
   * How long a lost LISTEN connection waits before it reconnects: long enough not to hammer a
   * server that is restarting; the workers keep polling meanwhile, so nothing waits on it.
   */
  listenRetryMs: 5_000,
};

/** An open PostgreSQL store: a connection pool and the drizzle handle over it. */
export interface PostgresDb {
  readonly orm: NodePgDatabase<typeof pgSchema>;
  /** The pool, for what drizzle does not model (session advisory locks); stays inside src/store. */
  readonly pool: pg.Pool;
  /**
   * Call `fn` with the payload of each notification on `channel` (LISTEN), from other sessions
   * and this one, as their transactions commit. One connection of its own, outside the pool,
   * opened on the first call and reconnected after a loss (notifications sent meanwhile are
   * missed: callers keep polling). Returns an unsubscribe.
   */
  listen(channel: string, fn: (payload: string) => void): () => void;
  close(): Promise<void>;
}

/** Open a pool on the database at `url` (no connection is made until the first query). */
export function openPostgres(url: string, opts: { max?: number } = {}): PostgresDb {
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: POSTGRES_DEFAULTS.connectTimeoutMs,
    ...(opts.max !== undefined ? { max: opts.max } : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the process. The next query reconnects, or fails where it is awaited.
  pool.on("error", () => {});
  // A checked-out client (a transaction's, an advisory lock's) has no pool listener: a lost
  // connection would be an unhandled 'error' event and end the process. The statement awaiting
  // the connection rejects instead, and the broken client is discarded when released.
  pool.on("connect", (client) => client.on("error", () => {}));
  const listener = notifications(url);
  return {
    orm: drizzle(pool, { schema: pgSchema }),
    pool,
    listen: listener.listen,
    close: async () => {
      await listener.close();
      await pool.end();
    },
  };
}

/** The LISTEN side of one database: one client for every channel, started on first use. */
function notifications(url: string): {
  listen(channel: string, fn: (payload: string) => void): () => void;
  close(): Promise<void>;
} {
  const channels = new Map<string, Set<(payload: string) => void>>();
  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  const reconnectLater = (): void => {
    client = null;
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, POSTGRES_DEFAULTS.listenRetryMs);
    retry.unref();
  };

  const connect = (): Promise<void> => {
    connecting ??= (async () => {
      const c = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: POSTGRES_DEFAULTS.connectTimeoutMs,
      });
      c.on("notification", (m) => {
        for (const fn of channels.get(m.channel) ?? []) fn(m.payload ?? "");
      });
      // A lost connection (server restart, pg_terminate_backend) comes as 'error' and 'end'.
      c.on("error", () => {});
      c.on("end", () => {
        if (client === c) reconnectLater();
      });
      try {
        await c.connect();
        for (const channel of channels.keys()) await c.query(`LISTEN ${pgIdentifier(channel)}`);
        if (closed) await c.end();
        else client = c;
      } catch {
        await c.end().catch(() => {});
        reconnectLater();
      }
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  return {
    listen(channel, fn) {
      let fns = channels.get(channel);
      if (!fns) {
        fns = new Set();
        channels.set(channel, fns);
        // A client already up listens on the new channel too; one still connecting picks it up.
        client?.query(`LISTEN ${pgIdentifier(channel)}`).catch(() => {});
      }
      fns.add(fn);
      if (!client && !connecting && !retry && !closed) void connect();
      return () => {
        fns.delete(fn);
      };
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await connecting;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}

/** `name` as a quoted PostgreSQL identifier (LISTEN takes no parameter). */
function pgIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Where drizzle's migrator records applied migrations (its defaults for PostgreSQL). */
const MIGRATIONS_TABLE = { schema: "drizzle", table: "__drizzle_migrations" } as const;

/** What `migratePostgres` did. */
export interface PostgresMigration {
  /** Migrations applied by this call. */
  applied: number;
  /** Migrations in the database after it (this call's and earlier ones). */
  total: number;
}

/**
 * Apply the pending migrations of `folder` (migrations/postgres by default) to the database at
 * `url`, under an advisory lock, so two callers never migrate at once. Idempotent: a second call
 * applies nothing. Throws StoreError UNREACHABLE (connection or login) or MIGRATION_FAILED.
 */
export async function migratePostgres(
  url: string,
  folder: string = findMigrationsFolder("postgres"),
): Promise<PostgresMigration> {
  const journal = readJournal(folder);
  const client = await connect(url);
  try {
    await client.query("SELECT pg_advisory_lock($1)", [POSTGRES_DEFAULTS.migrateLockKey]);
    const before = await appliedCount(client);
    try {
      await migrate(drizzle(client), { migrationsFolder: folder });
    } catch (err) {
      throw new StoreError("MIGRATION_FAILED", `migrating the PostgreSQL store failed: ${firstLine(err)}`, {
        cause: err,
      });
    }
    const after = await appliedCount(client);
    if (after < journal.length)
      throw new StoreError(
        "MIGRATION_FAILED",
        `the PostgreSQL store records ${after} of ${journal.length} migrations after migrating`,
      );
    return { applied: after - before, total: after };
  } finally {
    await client.end().catch(() => {});
  }
}

/** How many migrations of `folder` the database at `url` has not applied yet. */
export async function pendingPostgresMigrations(
  url: string,
  folder: string = findMigrationsFolder("postgres"),
): Promise<number> {
  const journal = readJournal(folder);
  const client = await connect(url);
  try {
    return journal.length - (await appliedCount(client));
  } finally {
    await client.end().catch(() => {});
  }
}

/** A connection string and password split apart, so the password travels only in the environment. */
export function splitPassword(url: string): { url: string; password: string | undefined } {
  const parsed = new URL(url);
  let password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.password = "";
  // libpq also reads ?password=; move it out of the command line too.
  const fromQuery = parsed.searchParams.get("password");
  if (fromQuery !== null) {
    password ??= fromQuery;
    parsed.searchParams.delete("password");
  }
  return { url: parsed.toString(), password };
}

/**
 * Dump the database at `url` with pg_dump (custom format, for pg_restore) into `file`. The
 * password goes in PGPASSWORD, never on the command line, where `ps` would show it. Throws
 * StoreError BACKUP_FAILED with pg_dump's last line of error.
 */
export async function dumpPostgres(input: {
  url: string;
  file: string;
  pgDump: string;
  env: NodeJS.ProcessEnv;
}): Promise<void> {
  const { url, password } = splitPassword(input.url);
  const env = { ...input.env, ...(password !== undefined ? { PGPASSWORD: password } : {}) };
  await new Promise<void>((resolve, reject) => {
    execFile(
      input.pgDump,
      ["--format=custom", "--no-password", `--file=${input.file}`, `--dbname=${url}`],
      { env, maxBuffer: 1 << 20 },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const last = stderr.trim().split("\n").pop()?.trim() || firstLine(err);
        reject(new StoreError("BACKUP_FAILED", `pg_dump failed: ${last}`, { cause: err }));
      },
    );
  });
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: POSTGRES_DEFAULTS.connectTimeoutMs,
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    // node-postgres errors carry a socket errno (ECONNREFUSED) or a SQLSTATE (28P01), never the password.
    const code = (err as { code?: string }).code;
    throw new StoreError(
      "UNREACHABLE",
      `cannot connect to the PostgreSQL store${code ? ` (${code})` : ""}: ${firstLine(err)}`,
      { cause: err },
    );
  }
  return client;
}

async function appliedCount(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string | null }>(
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 1 END AS n`,
    [`${MIGRATIONS_TABLE.schema}.${MIGRATIONS_TABLE.table}`],
  );
  if (rows[0]?.n === null) return 0;
  const count = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${MIGRATIONS_TABLE.schema}"."${MIGRATIONS_TABLE.table}"`,
  );
  return Number(count.rows[0]!.n);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
}
