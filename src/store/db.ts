/**
 * The one place a database connection is opened: pragmas, the image-check identity check, and
 * migrations. Everything else (the store service, the job queue, the CLI) goes through `openDb`.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { StoreError } from "./api.js";
import * as schema from "./schema.js";

/**
 * `PRAGMA application_id` of an image-check database ("ICK1"), stamped in the file header on
 * creation so another application's SQLite file is recognized and refused rather than migrated.
 */
export const APPLICATION_ID = 0x49434b31;

/** Defaults, each with why. */
export const DB_DEFAULTS = {
  /**
   * How often the bot's checkpointer copies the WAL back into the database file. SQLite's automatic
   * checkpoint runs inside whichever COMMIT crosses 1000 pages: a slash command's write (~16 pages)
   * would pay ~5 ms for it every ~60 commands. The bot checkpoints between requests instead.
   */
  checkpointEveryMs: 1000,
  /** A checkpoint waits at most this long for a quiet moment, so a busy bot's WAL stays bounded. */
  checkpointMaxDeferMs: 10_000,
  /**
   * How long a writer waits for another process's write lock before SQLITE_BUSY. Decisions and
   * claims are short transactions; 5 s absorbs a burst (or a backup step) without failing a click.
   */
  busyTimeoutMs: 5000,
};

/** An open database: the raw connection (for the job queue and backups) and the drizzle handle. */
export interface Db {
  readonly sqlite: Database.Database;
  readonly orm: BetterSQLite3Database<typeof schema>;
  readonly path: string;
  readonly readonly: boolean;
  close(): void;
}

/** Options of `openDb`. */
export interface OpenDbOptions {
  /** Open read-only: no directory creation, no migrations. Default false. */
  readonly?: boolean;
  /**
   * Default: migrate when writable; when read-only, refuse a store that needs migrations
   * (SCHEMA_OUTDATED). `false`: neither (the caller migrates, or copies the file as it is).
   */
  migrate?: boolean;
  /** Migrations folder; the shipped one by default (tests use a partial copy). */
  migrationsFolder?: string;
}

const NOT_WRITABLE_ERRNO = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EEXIST", "ENOENT"]);

/**
 * Open the SQLite store at `path`: WAL, foreign keys on, a busy timeout, synchronous NORMAL;
 * create the parent directory when missing; migrate unless told not to. Throws StoreError:
 * NOT_WRITABLE (the file or its directory cannot be written), NOT_A_STORE (not SQLite, or another
 * application's database), MIGRATION_FAILED, SCHEMA_OUTDATED (read-only and behind the code).
 */
export function openDb(path: string, opts: OpenDbOptions = {}): Db {
  const readonly = opts.readonly ?? false;
  const file = path === ":memory:" ? path : resolve(path);
  if (file !== ":memory:") {
    if (readonly) {
      if (!existsSync(file)) throw new StoreError("NOT_FOUND", `no store at ${file}`);
    } else assertWritable(file);
  }

  let sqlite: Database.Database;
  try {
    sqlite = new Database(file, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw translateOpenError(err, file);
  }
  try {
    // busy_timeout first, so switching to WAL waits for a concurrent opener instead of failing.
    sqlite.pragma(`busy_timeout = ${DB_DEFAULTS.busyTimeoutMs}`);
    assertImageCheckDb(sqlite, file, readonly);
    // WAL: readers never block the writer and vice versa (serve, check and decisions share the file).
    // It is a property of the file, so a read-only open leaves it as it is.
    if (!readonly) sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
    sqlite.pragma("synchronous = NORMAL");
  } catch (err) {
    sqlite.close();
    throw translateOpenError(err, file);
  }

  const orm = drizzle(sqlite, { schema });
  const db: Db = { sqlite, orm, path: file, readonly, close: () => sqlite.close() };
  const folder = opts.migrationsFolder ?? migrationsFolder();
  try {
    if (opts.migrate === false) {
      // The caller migrates itself (image-check migrate) or copies the file as it is (backup).
    } else if (!readonly) migrateDb(db, folder);
    else if (pendingMigrations(sqlite, folder) > 0)
      throw new StoreError(
        "SCHEMA_OUTDATED",
        `the store at ${file} needs migrations this command may not apply: run image-check migrate`,
      );
  } catch (err) {
    sqlite.close();
    throw err;
  }
  return db;
}

/** A running checkpointer; `stop()` restores SQLite's automatic checkpoints on the connection. */
export interface Checkpointer {
  stop(): void;
}

/**
 * Take WAL checkpoints off the write path of a long-running process (the bot): automatic
 * checkpoints are turned off on this connection, and every `everyMs` a PASSIVE checkpoint runs
 * when `busy()` is false (or when it was deferred for `maxDeferMs`). PASSIVE never waits for
 * readers or writers, so it cannot block the event loop on another process.
 * https://www.sqlite.org/wal.html#automatic_checkpoint
 */
export function startCheckpointer(
  db: Db,
  opts: {
    busy?: () => boolean;
    everyMs?: number;
    maxDeferMs?: number;
    onError?: (err: unknown) => void;
  } = {},
): Checkpointer {
  const busy = opts.busy ?? (() => false);
  const everyMs = opts.everyMs ?? DB_DEFAULTS.checkpointEveryMs;
  const maxDeferMs = opts.maxDeferMs ?? DB_DEFAULTS.checkpointMaxDeferMs;
  db.sqlite.pragma("wal_autocheckpoint = 0");
  let last = performance.now();
  const timer = setInterval(() => {
    if (busy() && performance.now() - last < maxDeferMs) return;
    try {
      db.sqlite.pragma("wal_checkpoint(PASSIVE)");
      last = performance.now();
    } catch (err) {
      opts.onError?.(err);
    }
  }, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      // SQLite's default; the connection may outlive the checkpointer (or be closed already).
      if (db.sqlite.open) db.sqlite.pragma("wal_autocheckpoint = 1000");
    },
  };
}

/** Apply pending migrations (drizzle's migrator). Throws StoreError MIGRATION_FAILED. */
export function migrateDb(db: Db, folder: string = migrationsFolder()): { applied: number } {
  const before = pendingMigrations(db.sqlite, folder);
  if (before === 0) return { applied: 0 };
  try {
    migrate(db.orm, { migrationsFolder: folder });
  } catch (err) {
    // Two processes starting together may both see a migration pending; the loser's migration
    // fails (table exists, or a busy snapshot). Wait for the winner's write lock to be released
    // (busy_timeout), then look again: if the winner brought the schema up to date, all is well.
    try {
      db.sqlite.exec("BEGIN IMMEDIATE; COMMIT");
    } catch {
      // Still locked after the busy timeout: report the original failure below.
    }
    if (pendingMigrations(db.sqlite, folder) === 0) return { applied: 0 };
    throw new StoreError("MIGRATION_FAILED", `migrating ${db.path} failed: ${firstLine(err)}`, {
      cause: err,
    });
  }
  return { applied: before };
}

/** How many migrations of `folder` the database has not applied yet. */
export function pendingMigrations(sqlite: Database.Database, folder: string = migrationsFolder()): number {
  const journal = readJournal(folder);
  const hasTable = sqlite
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  if (!hasTable) return journal.length;
  const row = sqlite
    .prepare("SELECT MAX(CAST(created_at AS INTEGER)) AS last FROM __drizzle_migrations")
    .get() as {
    last: number | null;
  };
  const last = row.last ?? -1;
  return journal.filter((e) => e.when > last).length;
}

/** The journal entries (`meta/_journal.json`) of a migrations folder. */
export function readJournal(folder: string): { idx: number; when: number; tag: string }[] {
  const text = readFileSync(join(folder, "meta", "_journal.json"), "utf8");
  return (JSON.parse(text) as { entries: { idx: number; when: number; tag: string }[] }).entries;
}

let cachedFolder: string | undefined;

/**
 * The shipped SQLite migrations folder (migrations/sqlite; PostgreSQL's are in migrations/postgres),
 * found by walking up from this module, so it works from src (tsx) and from the bundle (dist/cli).
 * Stores migrated before the folder moved stay up to date: drizzle's migrator tracks applied
 * migrations by the journal's timestamps, not by path.
 */
export function migrationsFolder(): string {
  if (cachedFolder) return cachedFolder;
  cachedFolder = findMigrationsFolder("sqlite");
  return cachedFolder;
}

/** The shipped migrations folder of one engine (`migrations/<engine>`), walking up from this module. */
export function findMigrationsFolder(engine: "sqlite" | "postgres"): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "migrations", engine);
    if (existsSync(join(candidate, "meta", "_journal.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new StoreError(
    "MIGRATION_FAILED",
    `the migrations/${engine} folder was not found next to the program`,
  );
}

function assertWritable(file: string): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    // SQLite also writes -wal and -shm files next to the database, so the directory must be writable.
    accessSync(dir, constants.W_OK);
    if (existsSync(file)) accessSync(file, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (NOT_WRITABLE_ERRNO.has(code))
      throw new StoreError(
        "NOT_WRITABLE",
        `cannot write the store at ${file} (${code}): check the path and its permissions`,
        {
          cause: err,
        },
      );
    throw err;
  }
}

function assertImageCheckDb(sqlite: Database.Database, file: string, readonly: boolean): void {
  // The first read of the header: a file that is not SQLite fails here with SQLITE_NOTADB.
  const appId = sqlite.pragma("application_id", { simple: true }) as number;
  if (appId === APPLICATION_ID) return;
  const objects = (sqlite.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get() as { n: number }).n;
  if (appId === 0 && objects === 0) {
    // A new (or empty) file: claim it.
    if (!readonly) sqlite.pragma(`application_id = ${APPLICATION_ID}`);
    return;
  }
  throw new StoreError(
    "NOT_A_STORE",
    `${file} is an SQLite database of another application, not an image-check store: point IMAGE_CHECK_DB elsewhere`,
  );
}

function translateOpenError(err: unknown, file: string): unknown {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: string }).code ?? "";
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
    return new StoreError("NOT_A_STORE", `${file} is not an SQLite database, so not an image-check store`, {
      cause: err,
    });
  if (
    code === "SQLITE_CANTOPEN" ||
    code === "SQLITE_READONLY" ||
    code === "SQLITE_PERM" ||
    code.startsWith("SQLITE_IOERR")
  )
    return new StoreError(
      "NOT_WRITABLE",
      `cannot open the store at ${file} (${code}): check the path and its permissions`,
      {
        cause: err,
      },
    );
  return err;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
}
