/**
 * One place that decides which engine a command's store runs on: PostgreSQL when the
 * configuration names IMAGE_CHECK_DATABASE_URL (several replicas share it), else the embedded
 * SQLite file at IMAGE_CHECK_DB. node-postgres and the PostgreSQL modules load only in the first
 * case, so the SQLite path pays nothing for them at start-up.
 */
import { describeDatabaseUrl } from "../config.js";
import { type OpenedStore, openStore } from "./service.js";

/** Where the store is: what `readConfig` gives. */
export interface StoreLocation {
  dbPath: string;
  databaseUrl?: string;
}

/**
 * Open the configured store. Writers (`serve`, `check`, `watch`) apply pending migrations first
 * (PostgreSQL under an advisory lock, so replicas starting together migrate one after the other);
 * `readonly` opens without migrating, and a PostgreSQL store that lacks migrations is StoreError
 * SCHEMA_OUTDATED. An unreachable server is StoreError UNREACHABLE, its message without the password.
 */
export async function openConfiguredStore(
  where: StoreLocation,
  opts: { readonly?: boolean } = {},
): Promise<OpenedStore> {
  if (where.databaseUrl === undefined) return openStore(where.dbPath, { readonly: opts.readonly });
  const url = where.databaseUrl;
  const [{ createPgStore, openPgStoreForReading }, { migratePostgres, openPostgres }] = await Promise.all([
    import("./pg-store.js"),
    import("./postgres.js"),
  ]);
  if (opts.readonly) return await openPgStoreForReading(url, describeDatabaseUrl(url));
  await migratePostgres(url);
  return createPgStore(openPostgres(url));
}
