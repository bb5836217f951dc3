import { queueSuite } from "../store/suites/queue.js";
import { sqliteEngine } from "../store/support.js";

queueSuite(sqliteEngine);
