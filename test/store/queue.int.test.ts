import { freshPgStore } from "./pg-support.js";
import { queueSuite } from "./suites/queue.js";

queueSuite(freshPgStore("queue"));
