/**
 * `npm run bench`: every benchmark in one run, so figures are compared against peers measured in
 * the same run on the same (noisy, 2-core) machine. Prints ratios, never asserts a time.
 * Each part runs in a process of its own, so one part's memory (the store's million rows) does not
 * show up in another's figures. Run one part alone with `npm run bench -- registry|hostile|cli|vuln|store|queue|slack|watch`.
 */
import { spawnSync } from "node:child_process";

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
  hostile: async () => {
    const { startTestbed } = await import("../test/support/testbed.js");
    const { benchHostile } = await import("./hostile.js");
    const { testbed, stop } = await startTestbed({ withoutDockerd: true });
    try {
      return await benchHostile(testbed);
    } finally {
      await stop();
    }
  },
  cli: async () => {
    const { startTestbed } = await import("../test/support/testbed.js");
    const { benchCli } = await import("./cli.js");
    const { testbed, stop } = await startTestbed({ withoutDockerd: true });
    try {
      return await benchCli(testbed);
    } finally {
      await stop();
    }
  },
  vuln: async () => {
    const { startTestbed } = await import("../test/support/testbed.js");
    const { benchVuln } = await import("./vuln.js");
    const { testbed, stop } = await startTestbed();
    try {
      return await benchVuln(testbed);
    } finally {
      await stop();
    }
  },
  store: async () => (await import("./store.js")).benchStore(),
  queue: async () => (await import("./queue.js")).benchQueue(),
  slack: async () => (await import("./slack.js")).benchSlack(),
  watch: async () => {
    const { startTestbed } = await import("../test/support/testbed.js");
    const { benchWatch } = await import("./watch.js");
    const { testbed, stop } = await startTestbed({ withoutDockerd: true });
    try {
      return await benchWatch(testbed);
    } finally {
      await stop();
    }
  },
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
for (const name of wanted) {
  if (!parts[name]) {
    process.stderr.write(`bench: unknown part "${name}" (parts: ${Object.keys(parts).join(", ")})\n`);
    process.exit(64);
  }
}

if (wanted.length === 0) {
  // All parts: each in its own process, one after another (never two at once on 2 cores).
  for (const name of Object.keys(parts)) {
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, name], {
      stdio: "inherit",
    });
    if (child.status !== 0) process.exit(child.status ?? 1);
  }
} else {
  for (const name of wanted) {
    process.stdout.write(`\n## ${name}\n\n`);
    const started = performance.now();
    process.stdout.write(`${await parts[name]!()}\n`);
    process.stdout.write(`(${name} took ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}
