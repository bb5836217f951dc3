/**
 * `image-check backup FILE`: a consistent copy of the store, taken online with SQLite's backup API
 * (better-sqlite3 `.backup()`), so it is safe while `serve` runs: writers are not blocked for
 * long, and the copy is one point-in-time snapshot. The copy is written next to FILE and renamed
 * into place, so FILE is never half-written. With IMAGE_CHECK_DATABASE_URL, the PostgreSQL store
 * is dumped by pg_dump (custom format) when it is on PATH, the same way.
 */
import { accessSync, constants, existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { describeDatabaseUrl, loadConfig } from "../config.js";
import { CodedError, oneLine } from "../errors.js";
import { openDb } from "../store/db.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";

/** Writing the copy failed (a read-only folder, a full disk, FILE is a folder): exit 3, one line. */
export class BackupError extends CodedError<"BACKUP_FAILED"> {}

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check backup FILE [--force]

Writes a consistent online copy of the store (IMAGE_CHECK_DB) to FILE; safe while serve runs.
Restore by stopping serve and copying FILE over the store.

With IMAGE_CHECK_DATABASE_URL (postgres://...), runs pg_dump --format=custom into FILE when
pg_dump is on PATH (restore with pg_restore); the password is passed in PGPASSWORD.

Options:
  --force   replace FILE when it exists (otherwise the backup refuses)
  --help    this text
`;

/** The `backup` command. */
export const backupCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { flags, positionals } = parseArgs("backup", argv, {
    force: { type: "boolean" },
  });
  if (positionals.length !== 1)
    throw new UsageError("expected one FILE to write (see image-check backup --help)");
  const target = resolve(io.cwd, positionals[0]!);
  const config = loadConfig(io.env);
  const source = resolve(io.cwd, config.dbPath);
  if (config.databaseUrl === undefined && target === source) throw new UsageError("FILE is the store itself");
  // SQLite's own message for a missing folder is a bare "unable to open database file" (exit 70).
  const folder = dirname(target);
  if (!isDirectory(folder))
    throw new UsageError(`cannot write ${target}: ${folder} is not an existing folder`);
  if (existsSync(target) && !flags.force) {
    io.stderr(`image-check backup: ${target} exists; pass --force to replace it\n`);
    return 1;
  }
  if (config.databaseUrl !== undefined) return backupPostgres(config.databaseUrl, target, io);
  // Read-only: a backup never migrates or otherwise changes the store it copies.
  const db = openDb(source, { readonly: true, migrate: false });
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    const { totalPages } = await db.sqlite.backup(temp);
    renameSync(temp, target);
    io.stdout(`Backed up ${source} to ${target} (${totalPages} pages).\n`);
  } catch (err) {
    rmSync(temp, { force: true });
    // SQLite and rename errors name neither file ("unable to open database file"): say which.
    const code = (err as { code?: string }).code ?? "error";
    throw new BackupError("BACKUP_FAILED", `cannot write ${target} (${code}: ${oneLine(err)})`, {
      cause: err,
    });
  } finally {
    db.close();
  }
  return 0;
};

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** pg_dump of the PostgreSQL store into `target`, or one line saying to use pg_dump. */
async function backupPostgres(databaseUrl: string, target: string, io: CliIO): Promise<number> {
  const where = describeDatabaseUrl(databaseUrl);
  const pgDump = findOnPath("pg_dump", io.env.PATH);
  if (pgDump === null) {
    io.stderr(
      `image-check backup: the store is PostgreSQL (${where}) and pg_dump is not on PATH; back it up with pg_dump --format=custom\n`,
    );
    return 1;
  }
  const { dumpPostgres } = await import("../store/postgres.js");
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    await dumpPostgres({ url: databaseUrl, file: temp, pgDump, env: io.env });
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  io.stdout(`Backed up ${where} to ${target} (pg_dump custom format; restore with pg_restore).\n`);
  return 0;
}

/** The executable `bin` in a PATH list, or null. */
function findOnPath(bin: string, path: string | undefined): string | null {
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
