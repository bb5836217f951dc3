import { freshPgStore } from "./pg-support.js";
import { watchSuite } from "./suites/watch.js";

watchSuite(freshPgStore("watch"));
