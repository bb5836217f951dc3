import { freshPgStore } from "./pg-support.js";
import { queriesSuite } from "./suites/queries.js";

queriesSuite(freshPgStore("queries"));
