// Child-process plumbing shared by the testbed services: finding and installing the Debian tools
// they need, picking loopback ports, and making sure nothing we start outlives this process.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";

/** A binary the testbed needs and the Debian package that ships it. */
export interface Tool {
  bin: string;
  pkg: string;
}

/** Every tool the testbed uses; dockerd/docker are optional (their absence only disables dockerd tests). */
export const TOOLS = {
  registry: { bin: "docker-registry", pkg: "docker-registry" },
  skopeo: { bin: "skopeo", pkg: "skopeo" },
  htpasswd: { bin: "htpasswd", pkg: "apache2-utils" },
  openssl: { bin: "openssl", pkg: "openssl" },
  dockerd: { bin: "dockerd", pkg: "docker.io" },
  docker: { bin: "docker", pkg: "docker.io" },
  busybox: { bin: "busybox", pkg: "busybox-static" },
  initdb: { bin: "initdb", pkg: "postgresql-15" },
  postgres: { bin: "postgres", pkg: "postgresql-15" },
  setpriv: { bin: "setpriv", pkg: "util-linux" },
} as const satisfies Record<string, Tool>;

// sbin directories are searched too: dockerd lives in /usr/sbin, which a non-login PATH may lack.
// Debian keeps initdb and postgres off PATH, in the versioned directory of postgresql-15.
const EXTRA_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
  "/usr/lib/postgresql/15/bin",
];

/** Absolute path of `bin` on PATH (or the usual system dirs), or null. */
export function which(bin: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/** True when this process may install packages and run dockerd. */
export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * Resolves every tool to a path, installing missing Debian packages with apt-get when root.
 * Required tools that stay missing throw one line naming the command to run; optional ones
 * come back as null.
 */
export function ensureTools<K extends string>(
  required: Record<K, Tool>,
  optional: Record<string, Tool> = {},
): { paths: Record<K, string>; optional: Record<string, string | null> } {
  const all: Record<string, Tool> = { ...optional, ...required };
  const missing = Object.values(all).filter((t) => which(t.bin) === null);
  const pkgs = [...new Set(missing.map((t) => t.pkg))].sort();
  if (pkgs.length > 0) {
    const command = `apt-get update && apt-get install -y ${pkgs.join(" ")}`;
    const requiredMissing = Object.values<Tool>(required).filter((t) => which(t.bin) === null);
    if (!isRoot()) {
      if (requiredMissing.length > 0) {
        throw new Error(
          `testbed: missing ${requiredMissing.map((t) => t.bin).join(", ")}; run as root: ${command}`,
        );
      }
    } else {
      try {
        execFileSync("bash", ["-c", command], {
          stdio: ["ignore", "ignore", "pipe"],
          env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
          timeout: 15 * 60_000,
        });
      } catch (err) {
        if (requiredMissing.length > 0) {
          const stderr = (err as { stderr?: Buffer }).stderr
            ?.toString()
            .trim()
            .split("\n")
            .slice(-3)
            .join(" | ");
          throw new Error(`testbed: "${command}" failed: ${stderr ?? String(err)}`);
        }
      }
    }
  }
  const paths = {} as Record<K, string>;
  for (const [key, tool] of Object.entries<Tool>(required)) {
    const found = which(tool.bin);
    if (found === null)
      throw new Error(`testbed: ${tool.bin} still missing; run as root: apt-get install -y ${tool.pkg}`);
    paths[key as K] = found;
  }
  const opt: Record<string, string | null> = {};
  for (const [key, tool] of Object.entries(optional)) opt[key] = which(tool.bin);
  return { paths, optional: opt };
}

/** A loopback TCP port that was free a moment ago (ask the OS: bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("testbed: could not read a free port");
  return address.port;
}

// Each child with the signal that stops it promptly (most take SIGTERM; PostgreSQL's SIGTERM is a
// "smart" shutdown that waits for every client to disconnect, so it gets SIGINT, a fast shutdown).
const children = new Map<ChildProcess, NodeJS.Signals>();
let hooksInstalled = false;

function killAll(signal: NodeJS.Signals): void {
  for (const [child, stopSignal] of children) {
    try {
      // A child with a stop signal of its own always gets it (SIGHUP would only make PostgreSQL reload).
      child.kill(stopSignal === "SIGTERM" ? signal : stopSignal);
    } catch {
      // already gone
    }
  }
}

// Children must not outlive us: on a normal exit the 'exit' event fires; on SIGINT/SIGTERM/SIGHUP
// we forward the signal to them and, if nobody else handles it, re-raise it so we still die.
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", () => killAll("SIGTERM"));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = (): void => {
      killAll("SIGTERM");
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

/** A started child whose stdout+stderr go to `logFile`. */
export interface Managed {
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code/signal once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its stop signal (SIGTERM unless spawnManaged was told otherwise), then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of the log file, for error messages. */
  tail(lines?: number): string;
}

/** Spawns `cmd` attached to this process (detached:false), logging to `logFile`, tracked for cleanup. */
export function spawnManaged(
  cmd: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
  /** The signal that stops this program promptly, sent on stop() and when we exit. Default SIGTERM. */
  stopSignal: NodeJS.Signals = "SIGTERM",
): Managed {
  installHooks();
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: false, env });
  closeSync(fd);
  children.set(child, stopSignal);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      children.delete(child);
      resolve({ code, signal });
    };
    child.once("exit", done);
    child.once("error", () => done(-1, null));
  });
  const tail = (lines = 5): string => {
    try {
      return readFileSync(logFile, "utf8").trim().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  };
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(stopSignal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { child, logFile, exited, stop, tail };
}

/** Polls `probe` until it returns true, the process exits, or `timeoutMs` passes. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  managed: Managed | null,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void managed?.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (exited) {
      throw new Error(
        `testbed: ${what} exited during startup (log: ${managed?.logFile}):\n${managed?.tail()}`,
      );
    }
    if (performance.now() > deadline) {
      throw new Error(
        `testbed: ${what} not ready after ${timeoutMs} ms (log: ${managed?.logFile}):\n${managed?.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
