#!/usr/bin/env node
/**
 * The `image-check` binary. Each command lives in its own module and is imported only when run,
 * so `inspect` never loads Bolt or drizzle.
 */
import { isCoded, oneLine } from "../errors.js";
import { type CliIO, type Command, EXIT } from "./args.js";
import { printable } from "./terminal.js";

// Commands import EXIT from ./args.js, never from this module: main awaits the command at its top
// level, so a command importing main would wait on itself.
export { EXIT };

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: Command; help: string }> }> = {
  check: {
    summary: "check an image and print the report",
    load: async () => {
      const m = await import("./check.js");
      return { run: m.checkCommand, help: m.HELP };
    },
  },
  inspect: {
    summary: "print the gathered facts only",
    load: async () => {
      const m = await import("./inspect.js");
      return { run: m.inspectCommand, help: m.HELP };
    },
  },
  decisions: {
    summary: "query prior decisions",
    load: async () => {
      const m = await import("./decisions.js");
      return { run: m.decisionsCommand, help: m.HELP };
    },
  },
  pin: {
    summary: "pin the image references of Dockerfiles, compose files and manifests to digests",
    load: async () => {
      const m = await import("./pin.js");
      return { run: m.pinCommand, help: m.HELP };
    },
  },
  serve: {
    summary: "start the Slack app",
    load: async () => {
      const m = await import("./serve.js");
      return { run: m.serveCommand, help: m.HELP };
    },
  },
  migrate: {
    summary: "apply pending database migrations",
    load: async () => {
      const m = await import("./migrate.js");
      return { run: m.migrateCommand, help: m.HELP };
    },
  },
  backup: {
    summary: "write a consistent online copy of the store",
    load: async () => {
      const m = await import("./backup.js");
      return { run: m.backupCommand, help: m.HELP };
    },
  },
  audit: {
    summary: "list running containers and whether their images are approved",
    load: async () => {
      const m = await import("./audit.js");
      return { run: m.auditCommand, help: m.HELP };
    },
  },
  watch: {
    summary: "re-check approved digests and act on what changed",
    load: async () => {
      const m = await import("./watch.js");
      return { run: m.watchCommand, help: m.HELP };
    },
  },
  policy: {
    summary: "print the built-in default policy, or validate a policy file (--check FILE)",
    load: async () => {
      const m = await import("./policy.js");
      return { run: m.policyCommand, help: m.HELP };
    },
  },
};

/** Top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    "image-check: check a container image before you run it",
    "",
    "Usage: image-check <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run 'image-check <command> --help' for a command's options.",
    "Global: --debug prints stack traces on errors.",
    "",
  ].join("\n");
}

/** Run the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout(mainHelp());
    return name ? 0 : EXIT.usage;
  }
  if (name === "--version" || name === "-V") {
    const { packageInfo } = await import("./package-info.js");
    io.stdout(`${(await packageInfo()).version}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(`image-check: unknown command "${printable(name)}" (see image-check --help)\n`);
    return EXIT.usage;
  }
  try {
    const command = await entry.load();
    // Every command's help is asked the same way, wherever --help or -h stands among its arguments.
    if (rest.some((a) => a === "--help" || a === "-h")) {
      io.stdout(command.help);
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    if (debug && err instanceof Error) io.stderr(`${err.stack}\n`);
    // Usage errors, and configuration or policy the user must fix before anything can run: 64.
    // Error text may quote a registry, an image or a policy: no control or bidi character gets through.
    // Every command's one-line error has the same prefix, `image-check COMMAND: `, added here only
    // (messages do not name their command).
    io.stderr(`image-check ${name}: ${printable(oneLine(err))}\n`);
    if (isCoded(err, "USAGE", "INVALID_CONFIG", "INVALID_POLICY")) return EXIT.usage;
    return isCoded(err) ? EXIT.couldNotCheck : EXIT.internal;
  }
}

/**
 * Whether this module is the program node was started with. npm starts the binary through a
 * symlink (`npm link`, `npm i -g`, `npx`, node_modules/.bin), so argv[1] names the link while
 * import.meta.url names the file it points at: both are compared after resolving links. Comparing
 * them as given made the installed binary do nothing and exit 0.
 */
async function isEntry(argv1: string | undefined): Promise<boolean> {
  if (!argv1) return false;
  const [{ realpath }, { fileURLToPath }] = await Promise.all([
    import("node:fs/promises"),
    import("node:url"),
  ]);
  try {
    const [started, self] = await Promise.all([realpath(argv1), realpath(fileURLToPath(import.meta.url))]);
    return started === self;
  } catch {
    // argv[1] is not a file (node -e, a REPL): this module was imported, not started.
    return false;
  }
}

if (await isEntry(process.argv[1])) {
  const code = await main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
  });
  process.exitCode = code;
}
