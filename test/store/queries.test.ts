import { queriesSuite } from "./suites/queries.js";
import { sqliteEngine } from "./support.js";

queriesSuite(sqliteEngine);
