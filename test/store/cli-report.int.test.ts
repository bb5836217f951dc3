// recordCliReport on PostgreSQL: test/store/suites/cli-report.ts.
import { freshPgStore } from "./pg-support.js";
import { cliReportSuite } from "./suites/cli-report.js";

cliReportSuite(freshPgStore("cli_report"));
