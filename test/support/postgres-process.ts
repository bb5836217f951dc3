// Runs Debian's PostgreSQL 15 (`postgresql-15`) for the integration tests: a fresh cluster in a
// temp dir of its own, listening on 127.0.0.1 only at a free port, its unix socket inside that dir,
// password auth (scram-sha-256) with a password generated per run. PostgreSQL refuses to run as
// root, so as root the cluster belongs to the `postgres` system user and every binary runs under
// it through setpriv (which execs, so the pid we track and signal is the postmaster itself).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort, isRoot, type Managed, spawnManaged, waitUntil } from "./processes.js";

const run = promisify(execFile);

/** The server as tests see it. */
export interface PostgresServer {
  /** Superuser URL with the generated password, database `postgres`: create databases from it. */
  adminUrl: string;
  /** "127.0.0.1:PORT" */
  host: string;
  /** The cluster's directory (data, socket, log). */
  dir: string;
}

/** The system user that owns the cluster when we are root (Debian's postgresql-common creates it). */
const CLUSTER_USER = "postgres";
// A few tries: the port is chosen before the postmaster binds it, and another process may take it.
const BIND_ATTEMPTS = 4;
const READY_TIMEOUT_MS = 30_000;
/**
 * Settings for a throwaway cluster: no durability (fsync off: a crash loses a test run, nothing
 * more), loopback only, the socket inside the cluster's dir rather than /var/run/postgresql.
 */
function serverArgs(dataDir: string, socketDir: string, port: number): string[] {
  return [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `unix_socket_directories=${socketDir}`,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
  ];
}

/** Command and arguments that run `bin` as the cluster's owner. */
function asOwner(setpriv: string | null, bin: string, args: string[]): [string, string[]] {
  if (setpriv === null) return [bin, args];
  return [setpriv, ["--reuid", CLUSTER_USER, "--regid", CLUSTER_USER, "--init-groups", "--", bin, ...args]];
}

/**
 * Initializes a cluster and starts it. `bins` are the absolute paths of initdb, postgres and (when
 * root) setpriv. The caller stops it with `stop()`; the exit hooks of processes.ts cover a vitest
 * that dies first.
 */
export async function startPostgresProcess(bins: {
  initdb: string;
  postgres: string;
  setpriv: string | null;
}): Promise<PostgresServer & { managed: Managed; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "image-check-postgres-"));
  const setpriv = isRoot() ? bins.setpriv : null;
  if (isRoot() && setpriv === null)
    throw new Error("testbed: PostgreSQL refuses root and setpriv is missing");
  const owner = isRoot() ? CLUSTER_USER : userInfo().username;
  const password = randomBytes(18).toString("hex");
  const pwFile = join(dir, "pwfile");
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = await ownerIds();
    chownSync(dir, uid, gid);
    chownSync(pwFile, uid, gid);
  }
  const dataDir = join(dir, "data");
  try {
    const [cmd, args] = asOwner(setpriv, bins.initdb, [
      "-D",
      dataDir,
      "-U",
      owner,
      "--pwfile",
      pwFile,
      "--auth",
      "scram-sha-256",
      "--encoding",
      "UTF8",
      // C collation: text compares byte-wise, as in SQLite, so both engines sort alike.
      "--locale",
      "C",
      "--no-sync",
    ]);
    await run(cmd, args, { cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`testbed: initdb failed: ${(err as { stderr?: string }).stderr?.trim() ?? String(err)}`);
  }
  rmSync(pwFile);

  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = await freePort();
    const [cmd, args] = asOwner(setpriv, bins.postgres, serverArgs(dataDir, dir, port));
    // SIGINT is PostgreSQL's fast shutdown: it ends open sessions instead of waiting for them.
    const managed = spawnManaged(cmd, args, join(dir, "postgres.log"), process.env, "SIGINT");
    const host = `127.0.0.1:${port}`;
    const adminUrl = `postgres://${encodeURIComponent(owner)}:${password}@${host}/postgres`;
    try {
      await waitUntil(() => canQuery(adminUrl), managed, READY_TIMEOUT_MS, "postgres");
    } catch (err) {
      lastError = err;
      await managed.stop(2000);
      continue;
    }
    const stop = async (): Promise<void> => {
      await managed.stop(10_000);
      rmSync(dir, { recursive: true, force: true });
    };
    return { adminUrl, host, dir, managed, stop };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function ownerIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    run("id", ["-u", CLUSTER_USER]),
    run("id", ["-g", CLUSTER_USER]),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}
