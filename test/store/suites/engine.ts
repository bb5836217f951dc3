// What a store suite runs against: a function that opens an empty store on one engine (SQLite or
// PostgreSQL), migrated, and closes it after the test file.
import type { Store } from "../../../src/store/api.js";

/** Opens an empty, migrated store; the engine closes it after the test file. */
export type FreshStore = () => Promise<Store>;
