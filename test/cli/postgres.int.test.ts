import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMigrationsFolder, readJournal } from "../../src/store/db.js";
import { createPgStore } from "../../src/store/pg-store.js";
import { migratePostgres, openPostgres } from "../../src/store/postgres.js";
import { checkedRequest } from "../store/support.js";
import { type CliRun, runCli } from "../support/cli.js";
import { createDatabase, queryOnce } from "../support/postgres.js";
import { freePort } from "../support/processes.js";

const run = promisify(execFile);
const STORE_TABLES = ["audit_log", "decisions", "jobs", "reports", "requests", "tag_observations"];

const cwd = mkdtempSync(join(tmpdir(), "image-check-pg-cli-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function passwordOf(url: string): string {
  return decodeURIComponent(new URL(url).password);
}

function cli(args: string[], url: string, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, {
    cwd,
    env: { IMAGE_CHECK_DATABASE_URL: url, IMAGE_CHECK_DB: join(cwd, "x.db"), ...env },
  });
}

const query = queryOnce;

describe("image-check migrate with IMAGE_CHECK_DATABASE_URL", () => {
  const migrations = readJournal(findMigrationsFolder("postgres")).length;
  let url: string;
  let first: CliRun;
  let second: CliRun;
  beforeAll(async () => {
    url = await createDatabase("migrate");
    first = await cli(["migrate"], url);
    second = await cli(["migrate"], url);
  });

  it("applies every PostgreSQL migration and says so, naming the database without its password", () => {
    const where = `postgres://${new URL(url).username}@${new URL(url).host}${new URL(url).pathname}`;
    expect(first).toEqual({
      code: 0,
      stdout: `Applied ${migrations} migrations to ${where}.\n`,
      stderr: "",
    });
  });

  it("creates the store's tables", async () => {
    const rows = await query<{ tablename: string }>(
      url,
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    expect(rows.map((r) => r.tablename)).toEqual(expect.arrayContaining(STORE_TABLES));
  });

  it("applies nothing the second time", () => {
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/ is up to date\.\n$/);
    expect(`${first.stdout}${second.stdout}${first.stderr}${second.stderr}`).not.toContain(passwordOf(url));
  });

  it("leaves the SQLite store alone", () => {
    expect(existsSync(join(cwd, "x.db"))).toBe(false);
  });

  describe("the audit log", () => {
    beforeAll(async () => {
      await query(
        url,
        "INSERT INTO audit_log (at, actor, action) VALUES ('2026-03-01T12:00:00.000Z', 'U1', 'request.created')",
      );
    });

    it.each([
      ["UPDATE", "UPDATE audit_log SET actor = 'U2'"],
      ["DELETE", "DELETE FROM audit_log"],
      ["TRUNCATE", "TRUNCATE audit_log"],
    ])("refuses %s: it is append-only", async (_what, statement) => {
      await expect(query(url, statement)).rejects.toMatchObject({
        code: "23001",
        message: "audit_log is append-only",
      });
      expect(await query(url, "SELECT actor FROM audit_log")).toEqual([{ actor: "U1" }]);
    });
  });

  describe("when two replicas migrate the same new database at once", () => {
    it("applies each migration once", async () => {
      const fresh = await createDatabase("migrate_race");
      const results = await Promise.all([migratePostgres(fresh), migratePostgres(fresh)]);
      expect(results.map((r) => r.applied).sort()).toEqual([0, migrations]);
      const applied = await query<{ n: string }>(
        fresh,
        "SELECT count(*) AS n FROM drizzle.__drizzle_migrations",
      );
      expect(Number(applied[0]!.n)).toBe(migrations);
    });
  });

  describe("when the server cannot be reached", () => {
    it("says so in one line, without the password, and exits 3", async () => {
      const port = await freePort();
      const result = await cli(["migrate"], `postgres://app:never-shown@127.0.0.1:${port}/db`);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /^image-check migrate: cannot connect to the PostgreSQL store \(ECONNREFUSED\)/,
      );
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).not.toContain("never-shown");
    });
  });
});

describe("image-check backup with IMAGE_CHECK_DATABASE_URL", () => {
  let url: string;
  beforeAll(async () => {
    url = await createDatabase("backup");
    await migratePostgres(url);
    await query(
      url,
      "INSERT INTO audit_log (at, actor, action) VALUES ('2026-03-01T12:00:00.000Z', 'U1', 'request.created')",
    );
  });

  describe("when pg_dump is on PATH", () => {
    const file = join(cwd, "store.dump");
    let result: CliRun;
    beforeAll(async () => {
      result = await cli(["backup", file], url);
    });

    it("writes a custom-format dump with pg_dump and says where", () => {
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/^Backed up postgres:\/\/\S+ to .*store\.dump \(pg_dump custom format/);
      expect(result.stdout).not.toContain(passwordOf(url));
    });

    it("holds every table of the store, which pg_restore lists", async () => {
      const { stdout } = await run("pg_restore", ["--list", file]);
      for (const table of STORE_TABLES) expect(stdout).toMatch(new RegExp(`TABLE public ${table} `));
      expect(stdout).toMatch(/TABLE DATA public audit_log /);
    });

    it("restores into an empty database with the rows", async () => {
      const target = await createDatabase("restored");
      const { url: bare, password } = (await import("../../src/store/postgres.js")).splitPassword(target);
      await run("pg_restore", ["--no-password", "--exit-on-error", `--dbname=${bare}`, file], {
        env: { ...process.env, PGPASSWORD: password },
      });
      expect(await query(target, "SELECT actor, action FROM audit_log")).toEqual([
        { actor: "U1", action: "request.created" },
      ]);
    });

    it("refuses to replace the file without --force", async () => {
      const again = await cli(["backup", file], url);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/exists; pass --force to replace it/);
    });
  });

  describe("when pg_dump is not on PATH", () => {
    it("says in one line to use pg_dump, and writes nothing", async () => {
      const file = join(cwd, "none.dump");
      const result = await cli(["backup", file], url, { PATH: "/nonexistent" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^image-check backup: the store is PostgreSQL \(postgres:\/\/\S+\) and pg_dump is not on PATH; back it up with pg_dump --format=custom\n$/,
      );
      expect(result.stderr).not.toContain(passwordOf(url));
      expect(existsSync(file)).toBe(false);
    });
  });
});

describe("image-check decisions with IMAGE_CHECK_DATABASE_URL", () => {
  let url: string;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    url = await createDatabase("decisions");
    await migratePostgres(url);
    // The command reads the real clock: decided now, the approval is in force.
    const now = new Date();
    const store = createPgStore(openPostgres(url));
    try {
      for (const [name, decision] of [
        ["nginx", "approved"],
        ["redis", "rejected"],
      ] as const) {
        const req = await checkedRequest(store, { repository: `docker.io/library/${name}`, now });
        await store.decide({
          requestId: req.id,
          decision,
          decidedBy: "U_IT",
          isApprover: true,
          now,
          expireDays: 90,
        });
        ids[name] = req.id;
      }
      ids.pending = (await checkedRequest(store, { repository: "docker.io/library/python", now })).id;
    } finally {
      await store.close();
    }
  });

  it("lists the PostgreSQL store's decisions, newest first, as JSON", async () => {
    const result = await cli(["decisions", "--json"], url);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as { requestId: string; status: string; decidedBy: string }[];
    expect(rows.map((r) => [r.requestId, r.status, r.decidedBy])).toEqual([
      [ids.redis, "rejected", "U_IT"],
      [ids.nginx, "approved", "U_IT"],
    ]);
    expect(existsSync(join(cwd, "x.db"))).toBe(false);
  });

  it("filters by image and by status, pending included", async () => {
    const byImage = JSON.parse((await cli(["decisions", "--json", "--image", "nginx"], url)).stdout) as {
      requestId: string;
    }[];
    expect(byImage.map((r) => r.requestId)).toEqual([ids.nginx]);
    const pending = JSON.parse((await cli(["decisions", "--json", "--status", "pending"], url)).stdout) as {
      requestId: string;
      status: string;
    }[];
    expect(pending).toEqual([expect.objectContaining({ requestId: ids.pending, status: "pending" })]);
  });

  describe("when the database was never migrated", () => {
    it("says to run migrate in one line, without the password, and exits 3", async () => {
      const empty = await createDatabase("decisions_empty");
      const result = await cli(["decisions"], empty);
      expect(result.code).toBe(3);
      expect(result.stderr.trim().split("\n")).toEqual([
        expect.stringMatching(
          /^image-check decisions: the PostgreSQL store at postgres:\/\/.* needs migrations .*: run image-check migrate$/,
        ),
      ]);
      expect(result.stderr).not.toContain(passwordOf(empty));
    });
  });

  describe("when the server cannot be reached", () => {
    it("says so in one line, without the password, and exits 3", async () => {
      const port = await freePort();
      const result = await cli(["decisions"], `postgres://app:never-shown@127.0.0.1:${port}/db`);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /^image-check decisions: cannot connect to the PostgreSQL store \(ECONNREFUSED\)/,
      );
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).not.toContain("never-shown");
    });
  });
});

describe("image-check check with IMAGE_CHECK_DATABASE_URL", () => {
  let url: string;
  let result: CliRun;
  beforeAll(async () => {
    url = await createDatabase("check_records");
    result = await cli(["check", "127.0.0.1:1/never/fetched:1"], url);
  });

  it("checks as without it (this registry cannot be reached: exit 3)", () => {
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain(passwordOf(url));
  });

  it("migrates the PostgreSQL store and records the report there, with its audit entry", async () => {
    const [reports] = await query<{ n: string }>(url, "SELECT count(*) AS n FROM reports");
    const [audits] = await query<{ n: string }>(
      url,
      "SELECT count(*) AS n FROM audit_log WHERE action = 'report.recorded'",
    );
    expect([Number(reports!.n), Number(audits!.n)]).toEqual([1, 1]);
  });

  it("writes no SQLite file beside it", () => {
    expect(existsSync(join(cwd, "x.db"))).toBe(false);
  });

  it("check --no-store touches no store at all", async () => {
    const other = await createDatabase("check_no_store");
    const run = await cli(["check", "--no-store", "127.0.0.1:1/never/fetched:1"], other);
    expect(run.code).toBe(3);
    const tables = await query<{ n: string }>(
      other,
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'reports'",
    );
    expect(Number(tables[0]!.n)).toBe(0);
  });
});
