// A database of its own for each test file (or test), on the testbed's PostgreSQL, so files that
// run in parallel never see each other's rows. Databases are dropped with the cluster at the end.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { getTestbed } from "./testbed.js";

/** Creates an empty database and returns its URL (with the testbed's generated password). */
export async function createDatabase(prefix = "test"): Promise<string> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: getTestbed().postgres.adminUrl });
  await admin.connect();
  try {
    // The name is ours (letters, digits, underscores), so quoting it is enough.
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(getTestbed().postgres.adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The rows of one query on the database at `url`, over a connection of its own (closed after). */
export async function queryOnce<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
