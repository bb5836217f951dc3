/**
 * `image-check migrate`: create the store when missing and apply pending migrations (serve and
 * check do this too on start; this command lets an operator do it ahead of a deploy). With
 * IMAGE_CHECK_DATABASE_URL, the PostgreSQL database gets migrations/postgres instead.
 */
import { resolve } from "node:path";
import { describeDatabaseUrl, loadConfig } from "../config.js";
import { migrateDb, openDb } from "../store/db.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check migrate

Creates the store (IMAGE_CHECK_DB, default ./data/image-check.db) when missing and applies
pending database migrations. Safe to run while serve runs, and more than once.

With IMAGE_CHECK_DATABASE_URL (postgres://...), applies the PostgreSQL migrations to that
database instead; the database itself must exist.
`;

/** The `migrate` command. */
export const migrateCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { positionals } = parseArgs("migrate", argv, {});
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (see image-check migrate --help)`);
  const config = loadConfig(io.env);
  if (config.databaseUrl !== undefined) {
    const { migratePostgres } = await import("../store/postgres.js");
    const { applied } = await migratePostgres(config.databaseUrl);
    const where = describeDatabaseUrl(config.databaseUrl);
    io.stdout(
      applied
        ? `Applied ${applied} migration${applied === 1 ? "" : "s"} to ${where}.\n`
        : `${where} is up to date.\n`,
    );
    return 0;
  }
  const path = resolve(io.cwd, config.dbPath);
  const db = openDb(path, { migrate: false });
  try {
    const { applied } = migrateDb(db);
    io.stdout(
      applied
        ? `Applied ${applied} migration${applied === 1 ? "" : "s"} to ${path}.\n`
        : `${path} is up to date.\n`,
    );
  } finally {
    db.close();
  }
  return 0;
};
