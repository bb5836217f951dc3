// Two replicas (two connection pools) taking Slack deliveries on one PostgreSQL store: of two
// identical deliveries, or two retries of one body, arriving at once, exactly one is taken, as
// SQLite's single writer guarantees for one process; and of two slash commands of one user, one
// takes the user's last in-flight place.
import { afterAll, describe, expect, it } from "vitest";
import { openPostgres } from "../../src/store/postgres.js";
import type { SlackDelivery } from "../../src/store/slack.js";
import { migratedPgDatabase, pgStoreParts, slackRequest } from "./pg-support.js";
import { minutesAfter, T0 } from "./support.js";

const ROUNDS = 10;

describe("two replicas taking Slack deliveries on one PostgreSQL store", async () => {
  const url = await migratedPgDatabase("slack_race");
  const [one, two] = [pgStoreParts(openPostgres(url)), pgStoreParts(openPostgres(url))];
  afterAll(async () => {
    await one.store.close();
    await two.store.close();
  });
  const take = (replica: typeof one, d: SlackDelivery) => replica.ledger.takeDelivery(d, T0, minutesAfter(5));

  it("take one of two identical deliveries arriving at once, every round", async () => {
    // Every pair at once: twenty transactions over the two pools.
    const outcomes = await Promise.all(
      Array.from({ length: ROUNDS }, (_, i) => {
        const d = { signature: `v0=same${i}`, bodyHash: `same${i}`, retry: false };
        return Promise.all([take(one, d), take(two, d)]);
      }),
    );
    for (const pair of outcomes) expect(pair.filter(Boolean)).toHaveLength(1);
  });

  it("take one of two retries of the same body, signed apart, arriving at once, every round", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: ROUNDS }, (_, i) => {
        const retry = (n: number) => ({
          signature: `v0=retry${i}-${n}`,
          bodyHash: `retried${i}`,
          retry: true,
        });
        return Promise.all([take(one, retry(1)), take(two, retry(2))]);
      }),
    );
    for (const pair of outcomes) expect(pair.filter(Boolean)).toHaveLength(1);
  });

  it("let one of two slash commands of one user at once take that user's last in-flight place, every round", async () => {
    const limit = 1;
    // What the slash command does in its transaction: count the user's checks, then add one.
    const submit = (replica: typeof one, user: string) =>
      replica.store.transaction(async () => {
        if ((await replica.ledger.inFlightOf(user)) >= limit) return false;
        await slackRequest(replica.store, user);
        return true;
      });
    const outcomes = await Promise.all(
      Array.from({ length: ROUNDS }, (_, i) =>
        Promise.all([submit(one, `U_RACE${i}`), submit(two, `U_RACE${i}`)]),
      ),
    );
    for (const pair of outcomes) expect(pair.filter(Boolean)).toHaveLength(1);
    for (let i = 0; i < ROUNDS; i++) expect(await one.ledger.inFlightOf(`U_RACE${i}`)).toBe(1);
  });
});
