/**
 * `image-check migrate`: create the store when missing and apply pending migrations (serve and
 * check do this too on start; this command lets an operator do it ahead of a deploy).
 */
import { resolve } from "node:path";
import { loadConfig } from "../config.js";
import { migrateDb, openDb } from "../store/db.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check migrate

Creates the store (IMAGE_CHECK_DB, default ./data/image-check.db) when missing and applies
pending database migrations. Safe to run while serve runs, and more than once.
`;

/** The `migrate` command. */
export const migrateCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { positionals } = parseArgs("migrate", argv, {});
  if (positionals.length)
    throw new UsageError(`migrate: unexpected argument "${positionals[0]}" (see image-check migrate --help)`);
  const path = resolve(io.cwd, loadConfig(io.env).dbPath);
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
