import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "./postgres.js";
import { getTestbed } from "./testbed.js";

describe("the testbed's PostgreSQL", () => {
  const clients: pg.Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
  });
  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  }

  it("is PostgreSQL 15, listening on loopback only", async () => {
    const { postgres } = getTestbed();
    expect(postgres.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const client = await connect(postgres.adminUrl);
    const version = await client.query<{ server_version_num: string }>("SHOW server_version_num");
    expect(version.rows[0]!.server_version_num).toMatch(/^15\d{4}$/);
    const listen = await client.query<{ listen_addresses: string }>("SHOW listen_addresses");
    expect(listen.rows[0]!.listen_addresses).toBe("127.0.0.1");
  });

  it("keeps its unix socket inside its own directory", async () => {
    const client = await connect(getTestbed().postgres.adminUrl);
    const socket = await client.query<{ unix_socket_directories: string }>("SHOW unix_socket_directories");
    expect(socket.rows[0]!.unix_socket_directories).toBe(getTestbed().postgres.dir);
  });

  it("runs as a user other than root", async () => {
    const client = await connect(getTestbed().postgres.adminUrl);
    const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    expect(uid).toBeDefined();
    expect(Number(uid)).not.toBe(0);
  });

  it("refuses a connection without the generated password", async () => {
    const url = new URL(getTestbed().postgres.adminUrl);
    url.password = "wrong";
    const client = new pg.Client({ connectionString: url.toString() });
    await expect(client.connect()).rejects.toMatchObject({ code: "28P01" });
    await client.end().catch(() => {});
  });

  describe("when two test files each create a database", () => {
    it("gives each its own: a table made in one is not in the other", async () => {
      const [a, b] = await Promise.all([createDatabase("drift_a"), createDatabase("drift_b")]);
      expect(a).not.toBe(b);
      const ca = await connect(a);
      const cb = await connect(b);
      await ca.query("CREATE TABLE only_here (x int)");
      const seen = await cb.query("SELECT to_regclass('only_here') AS t");
      expect(seen.rows[0].t).toBeNull();
    });
  });
});
