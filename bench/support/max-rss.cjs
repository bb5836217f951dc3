// Preloaded into a measured process (NODE_OPTIONS=--require): at exit, write its peak RSS (KiB,
// getrusage ru_maxrss) to BENCH_RSS_FILE. A few lines of CommonJS, so it adds nothing to measure.
const file = process.env.BENCH_RSS_FILE;
if (file)
  process.on("exit", () => require("node:fs").writeFileSync(file, String(process.resourceUsage().maxRSS)));
