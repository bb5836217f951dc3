// recordCliReport on SQLite: test/store/suites/cli-report.ts.

import { cliReportSuite } from "./suites/cli-report.js";
import { sqliteEngine } from "./support.js";

cliReportSuite(sqliteEngine);
