// The ack path's committer on PostgreSQL: each write is a transaction of its own (a group would
// hold every item's per-user and per-digest locks together, and two groups could wait on each other
// in a circle); each settles only once committed, and a write that throws leaves nothing behind.
import { afterAll, describe, expect, it } from "vitest";
import { openPostgres } from "../../src/store/postgres.js";
import { migratedPgDatabase, pgStoreParts, requestsBy, slackRequest } from "./pg-support.js";

describe("the ack path's committer on PostgreSQL", async () => {
  const url = await migratedPgDatabase("group_commit");
  const { store, rows, ledger } = pgStoreParts(openPostgres(url));
  const other = pgStoreParts(openPostgres(url));
  afterAll(async () => {
    await store.close();
    await other.store.close();
  });
  const commit = store.groupCommit();
  const request = (user: string) => slackRequest(store, user);
  const countOf = (user: string) => requestsBy(rows, user);

  it("settles each write only once another connection sees it", async () => {
    const writes = ["U_G1", "U_G2", "U_G3"].map((u) =>
      commit(() => request(u)).then(async (r) => (await other.store.getRequest(r.id))?.requestedBy),
    );
    expect(await Promise.all(writes)).toEqual(["U_G1", "U_G2", "U_G3"]);
  });

  it("rolls back a write that throws, and rejects it with its error, leaving the others", async () => {
    const ok = commit(() => request("U_KEPT"));
    const bad = commit(async () => {
      await request("U_UNDONE");
      throw new Error("refused after writing");
    });
    await expect(bad).rejects.toThrow("refused after writing");
    await ok;
    expect([await countOf("U_KEPT"), await countOf("U_UNDONE")]).toEqual([1, 0]);
  });

  it("lets many slash commands of a few users at once all commit, none waiting on another in a circle", async () => {
    // What the ack path does per command: count the user's checks in flight (a per-user lock on
    // PostgreSQL), then add the request. 120 commands of 6 users, all at once.
    const users = Array.from({ length: 6 }, (_, i) => `U_MANY${i}`);
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        commit(async () => {
          const user = users[i % users.length]!;
          await ledger.inFlightOf(user);
          return await request(user);
        }),
      ),
    );
    expect(outcomes).toHaveLength(120);
    for (const u of users) expect(await countOf(u)).toBe(20);
  });
});
