/**
 * `image-check backup FILE`: a consistent copy of the store, taken online with SQLite's backup API
 * (better-sqlite3 `.backup()`), so it is safe while `serve` runs: writers are not blocked for
 * long, and the copy is one point-in-time snapshot. The copy is written next to FILE and renamed
 * into place, so FILE is never half-written.
 */
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadConfig } from "../config.js";
import { CodedError, oneLine } from "../errors.js";
import { openDb } from "../store/db.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";

/** Writing the copy failed (a read-only folder, a full disk, FILE is a folder): exit 3, one line. */
export class BackupError extends CodedError<"BACKUP_FAILED"> {}

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check backup FILE [--force]

Writes a consistent online copy of the store (IMAGE_CHECK_DB) to FILE; safe while serve runs.
Restore by stopping serve and copying FILE over the store.

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
    throw new UsageError("backup: expected one FILE to write (see image-check backup --help)");
  const target = resolve(io.cwd, positionals[0]!);
  const source = resolve(io.cwd, loadConfig(io.env).dbPath);
  if (target === source) throw new UsageError("backup: FILE is the store itself");
  // SQLite's own message for a missing folder is a bare "unable to open database file" (exit 70).
  const folder = dirname(target);
  if (!isDirectory(folder))
    throw new UsageError(`backup: cannot write ${target}: ${folder} is not an existing folder`);
  if (existsSync(target) && !flags.force) {
    io.stderr(`image-check backup: ${target} exists; pass --force to replace it\n`);
    return 1;
  }
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
