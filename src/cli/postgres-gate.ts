/**
 * Until serve and check run on PostgreSQL (docs/postgres.md), the commands that write the store
 * refuse to run with IMAGE_CHECK_DATABASE_URL set, rather than quietly using the SQLite file that
 * other replicas never see. `migrate`, `backup` and `decisions` already work with PostgreSQL.
 */
import { type Config, ConfigError } from "../config.js";

/** Throws ConfigError (exit 64, one line) when `config` names a PostgreSQL store. */
export function refuseWithPostgres(command: string, config: Config, hint = ""): void {
  if (config.databaseUrl === undefined) return;
  throw new ConfigError([
    `IMAGE_CHECK_DATABASE_URL: PostgreSQL serves migrate, backup and decisions so far; ${command} needs the SQLite store (unset IMAGE_CHECK_DATABASE_URL${hint})`,
  ]);
}
