// The Slack app's ledger in the store (deliveries taken, decision DMs sent, checks in flight) as a
// suite any engine runs: test/store/slack-ledger.test.ts (SQLite) and
// test/store/slack-ledger.int.test.ts (PostgreSQL).
import { describe, expect, it } from "vitest";
import { PRUNE_PER_TAKE, type SlackDelivery } from "../../../src/store/slack.js";
import { checkedRequest, minutesAfter, T0 } from "../support.js";
import { countOf, type FreshStoreParts } from "./engine.js";

/** A delivery with signature `sig` of body `body`. */
function delivery(sig: string, body: string, retry = false): SlackDelivery {
  return { signature: `v0=${sig}`, bodyHash: `hash-${body}`, retry };
}

/** The Slack ledger suite over the stores `fresh` opens. */
export function slackLedgerSuite(fresh: FreshStoreParts): void {
  describe("the Slack ledger", async () => {
    const { store, ledger } = await fresh();
    // Remembered for five minutes, as src/slack/service.ts does.
    const take = (d: SlackDelivery, at: Date) => ledger.takeDelivery(d, at, minutesAfter(5, at));

    describe("when a delivery arrives", () => {
      it("takes it the first time and refuses the same signature while it is remembered", async () => {
        expect(await take(delivery("one", "one"), T0)).toBe(true);
        expect(await take(delivery("one", "one"), minutesAfter(4))).toBe(false);
      });

      it("takes the same signature again once it has expired", async () => {
        expect(await take(delivery("two", "two"), T0)).toBe(true);
        expect(await take(delivery("two", "two"), minutesAfter(5))).toBe(true);
        expect(await take(delivery("two", "two"), minutesAfter(6))).toBe(false);
      });
    });

    describe("when Slack retries a delivery (X-Slack-Retry-Num)", () => {
      it("refuses it while the same body is remembered, although it is signed anew", async () => {
        expect(await take(delivery("three", "three"), T0)).toBe(true);
        expect(await take(delivery("three-retry", "three", true), minutesAfter(1))).toBe(false);
      });

      it("takes it when the body was never taken or has expired", async () => {
        expect(await take(delivery("four-retry", "four", true), T0)).toBe(true);
        expect(await take(delivery("five", "five"), T0)).toBe(true);
        expect(await take(delivery("five-retry", "five", true), minutesAfter(5))).toBe(true);
      });

      it("is told apart from a new delivery of the same body, which is taken", async () => {
        expect(await take(delivery("six", "six"), T0)).toBe(true);
        expect(await take(delivery("six-again", "six"), T0)).toBe(true);
      });
    });

    describe("when expired deliveries pile up", async () => {
      // A store of its own: the count is of every delivery it holds.
      const own = await fresh();
      const takeOwn = (d: SlackDelivery, at: Date) => own.ledger.takeDelivery(d, at, minutesAfter(5, at));
      const count = (where: string) => countOf(own, `SELECT COUNT(*) AS n FROM slack_deliveries ${where}`);

      it(`drops at most ${PRUNE_PER_TAKE} of them per take`, async () => {
        for (let i = 0; i < PRUNE_PER_TAKE + 2; i++) await takeOwn(delivery(`old${i}`, `old${i}`), T0);
        await takeOwn(delivery("new", "new"), minutesAfter(10));
        expect(await count("")).toBe(3);
        await takeOwn(delivery("newer", "newer"), minutesAfter(10));
        expect(await count("WHERE signature LIKE 'v0=old%'")).toBe(0);
      });
    });

    describe("decision DMs", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/dm" });

      it("have none recorded before the first is sent", async () => {
        expect(await ledger.dmSent(req.id, "dec_1")).toBeNull();
      });

      it("keep the first DM of a request and decision, ignoring a second record of it", async () => {
        await ledger.recordDm(req.id, "dec_2", { channel: "D_ONE", ts: "1.000" }, T0);
        await ledger.recordDm(req.id, "dec_2", { channel: "D_TWO", ts: "2.000" }, minutesAfter(1));
        expect(await ledger.dmSent(req.id, "dec_2")).toEqual({ channel: "D_ONE", ts: "1.000" });
        expect(await ledger.dmSent(req.id, "dec_3")).toBeNull();
      });
    });

    describe("checks in flight", () => {
      it("count a user's requests whose check is queued or running, not the ones waiting for a decision", async () => {
        const input = {
          reference: "docker.io/library/busy:1",
          repository: "docker.io/library/busy",
          tag: "1",
          requestedBy: "U_BUSY",
          source: "slack" as const,
          channel: "C_DEV",
          reason: "needed",
        };
        await store.createRequest(input, T0);
        await store.createRequest({ ...input, reference: "docker.io/library/busy:2", tag: "2" }, T0);
        await store.createRequest({ ...input, requestedBy: "U_OTHER" }, T0);
        await checkedRequest(store, { repository: "docker.io/library/done", requestedBy: "U_BUSY" });
        expect(await ledger.inFlightOf("U_BUSY")).toBe(2);
        expect(await ledger.inFlightOf("U_NOBODY")).toBe(0);
      });
    });
  });
}
