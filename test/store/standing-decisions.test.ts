// The approval rules across names (issue 8, items 1 and 2), on SQLite: test/store/suites/standing-decisions.ts.

import { standingDecisionsSuite } from "./suites/standing-decisions.js";
import { sqliteEngine } from "./support.js";

standingDecisionsSuite(sqliteEngine);
