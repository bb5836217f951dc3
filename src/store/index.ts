/**
 * The store's entry point: the service API (types in ./api.ts), opening a store, and the database
 * handle for the worker and the admin commands.
 */
export * from "./api.js";
export {
  APPLICATION_ID,
  type Checkpointer,
  type Db,
  migrateDb,
  openDb,
  pendingMigrations,
  startCheckpointer,
} from "./db.js";
export { type GroupCommit, type GroupCommitOptions, groupCommit } from "./group-commit.js";
export { createStore, type OpenedStore, openStore, type SqliteStore } from "./service.js";
export {
  changesKey,
  type DueRecheck,
  openWatchStore,
  RETIRED,
  type RecheckResult,
  WATCH_ACTOR,
  type WatchChangeRecord,
  type WatchRecord,
  type WatchStore,
} from "./watch.js";
