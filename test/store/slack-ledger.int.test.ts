import { freshPgStore } from "./pg-support.js";
import { slackLedgerSuite } from "./suites/slack-ledger.js";

slackLedgerSuite(freshPgStore("slack_ledger"));
