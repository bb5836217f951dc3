// The group commit on PostgreSQL (the ack path's writes): the writes of one turn commit in one
// transaction, each in a savepoint of its own, and each settles only once committed; a group of one
// is a plain transaction.
import { afterAll, describe, expect, it } from "vitest";
import type { GroupCommit } from "../../src/store/group-commit.js";
import { openPostgres } from "../../src/store/postgres.js";
import { migratedPgDatabase, pgStoreParts } from "./pg-support.js";
import { T0 } from "./support.js";

describe("the group commit on PostgreSQL", async () => {
  const url = await migratedPgDatabase("group_commit");
  const { store, rows } = pgStoreParts(openPostgres(url));
  const other = pgStoreParts(openPostgres(url));
  afterAll(async () => {
    await store.close();
    await other.store.close();
  });
  /** A group committer whose groups flush when the test says. */
  const grouped = (): { commit: GroupCommit; flush: () => void } => {
    const pending: (() => void)[] = [];
    const commit = store.groupCommit({ schedule: (f) => pending.push(f) });
    return { commit, flush: () => pending.splice(0).forEach((f) => f()) };
  };
  const request = (user: string) => () =>
    store.createRequest(
      {
        reference: "nginx:1",
        repository: "docker.io/library/nginx",
        tag: "1",
        requestedBy: user,
        source: "slack",
      },
      T0,
    );
  const countOf = async (user: string) =>
    Number((await rows(`SELECT count(*) AS n FROM requests WHERE requested_by = '${user}'`))[0]?.n);

  it("commits the writes of one turn together, each settled only once another connection sees it", async () => {
    const { commit, flush } = grouped();
    const writes = ["U_G1", "U_G2", "U_G3"].map((u) =>
      commit(request(u)).then(async (r) => (await other.store.getRequest(r.id))?.requestedBy),
    );
    flush();
    expect(await Promise.all(writes)).toEqual(["U_G1", "U_G2", "U_G3"]);
  });

  it("rolls back a write that throws alone, and rejects it with its error", async () => {
    const { commit, flush } = grouped();
    const ok = commit(request("U_KEPT"));
    const bad = commit(async () => {
      await request("U_UNDONE")();
      throw new Error("refused after writing");
    });
    const after = commit(request("U_AFTER"));
    flush();
    await expect(bad).rejects.toThrow("refused after writing");
    await Promise.all([ok, after]);
    expect([await countOf("U_KEPT"), await countOf("U_UNDONE"), await countOf("U_AFTER")]).toEqual([1, 0, 1]);
  });

  it("rolls back a group of one that throws, and rejects it", async () => {
    const { commit, flush } = grouped();
    const bad = commit(async () => {
      await request("U_ALONE")();
      throw new Error("alone and refused");
    });
    flush();
    await expect(bad).rejects.toThrow("alone and refused");
    expect(await countOf("U_ALONE")).toBe(0);
  });
});
