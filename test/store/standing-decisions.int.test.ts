// The approval rules across names (issue 8, items 1 and 2), on PostgreSQL: test/store/suites/standing-decisions.ts.
import { freshPgStore } from "./pg-support.js";
import { standingDecisionsSuite } from "./suites/standing-decisions.js";

standingDecisionsSuite(freshPgStore("standing"));
