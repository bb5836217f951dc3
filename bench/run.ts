/**
 * `npm run bench`: every benchmark in one run, so figures are compared against peers measured in
 * the same run on the same (noisy, 2-core) machine. Prints ratios, never asserts a time.
 * Run one part alone with `npm run bench -- registry|store|slack`.
 */
const parts: Record<string, () => Promise<string>> = {
  registry: async () => {
    const { startTestbed } = await import("../test/support/testbed.js");
    const { benchRegistry } = await import("./registry.js");
    const { testbed, stop } = await startTestbed();
    try {
      return await benchRegistry(testbed);
    } finally {
      await stop();
    }
  },
  store: async () => (await import("./store.js")).benchStore(),
  slack: async () => (await import("./slack.js")).benchSlack(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
for (const name of wanted) {
  if (!parts[name]) {
    process.stderr.write(`bench: unknown part "${name}" (parts: ${Object.keys(parts).join(", ")})\n`);
    process.exit(64);
  }
}
for (const name of wanted.length ? wanted : Object.keys(parts)) {
  process.stdout.write(`\n## ${name}\n\n`);
  const started = performance.now();
  process.stdout.write(`${await parts[name]!()}\n`);
  process.stdout.write(`(${name} took ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}
