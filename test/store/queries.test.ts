import { queriesSuite } from "./suites/queries.js";
import { freshStore } from "./support.js";

queriesSuite(async () => freshStore());
