import { freshPgStore } from "./pg-support.js";
import { decisionsSuite } from "./suites/decisions.js";

decisionsSuite(freshPgStore("decisions"));
