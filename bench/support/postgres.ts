/**
 * A PostgreSQL database for a bench part of its own: on the server IMAGE_CHECK_BENCH_PG_URL names
 * (its user must be allowed to create databases), or on a throwaway PostgreSQL 15 started for the
 * run as the tests start one (test/support/postgres-process.ts: temp dir, loopback, free port, a
 * non-root owner; fsync off). `stop()` drops the database and stops a server started here.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { startPostgresProcess } from "../../test/support/postgres-process.js";
import { ensureTools, TOOLS } from "../../test/support/processes.js";

/** A database made for one bench part. */
export interface BenchDatabase {
  /** Its URL (with the server's password). */
  url: string;
  /** Which server, for the report: its version and where it runs. */
  where: string;
  /** Create another empty database on the same server (one per engine run). */
  another(prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/** Start (or reach) the server and create an empty database named after `prefix`. */
export async function benchDatabase(prefix: string): Promise<BenchDatabase> {
  const given = process.env.IMAGE_CHECK_BENCH_PG_URL;
  let adminUrl: string;
  let where: string;
  let stopServer = async (): Promise<void> => {};
  if (given) {
    adminUrl = given;
    where = `the server of IMAGE_CHECK_BENCH_PG_URL (${new URL(given).host})`;
  } else {
    const tools = ensureTools({ initdb: TOOLS.initdb, postgres: TOOLS.postgres }, { setpriv: TOOLS.setpriv });
    const server = await startPostgresProcess({
      initdb: tools.paths.initdb,
      postgres: tools.paths.postgres,
      setpriv: tools.optional.setpriv ?? null,
    });
    adminUrl = server.adminUrl;
    where = `a cluster started for this run at ${server.host} (fsync off, synchronous_commit off)`;
    stopServer = server.stop;
  }
  const created: string[] = [];
  const admin = async (statement: string): Promise<string> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ v?: string }>(statement);
      return rows[0]?.v ?? "";
    } finally {
      await client.end();
    }
  };
  const another = async (name: string): Promise<string> => {
    const db = `${name.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${randomBytes(6).toString("hex")}`;
    // The name is ours (letters, digits, underscores), so quoting it is enough.
    await admin(`CREATE DATABASE "${db}"`);
    created.push(db);
    const url = new URL(adminUrl);
    url.pathname = `/${db}`;
    return url.toString();
  };
  let url: string;
  try {
    url = await another(prefix);
    where = `PostgreSQL ${await admin("SELECT current_setting('server_version') AS v")}, ${where}`;
  } catch (err) {
    await stopServer();
    throw err;
  }
  return {
    url,
    where,
    another,
    stop: async () => {
      try {
        for (const db of created) await admin(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      } finally {
        await stopServer();
      }
    },
  };
}
