import { slackLedgerSuite } from "./suites/slack-ledger.js";
import { sqliteEngine } from "./support.js";

slackLedgerSuite(sqliteEngine);
