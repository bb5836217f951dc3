import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, IT_CHANNEL, itMessage, startHarness } from "../support/slack-harness.js";
import { postSigned, slashCommandBody } from "../support/slack-requests.js";

const FORM = "application/x-www-form-urlencoded";

describe("the Slack app, when a delivery comes again", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const nowSec = () => Math.floor(Date.now() / 1000);
  const requestsFor = (h: Harness, repository: string) =>
    (
      h.db.sqlite
        .prepare("SELECT count(*) AS n FROM requests WHERE repository = ?")
        .get(`docker.io/${repository}`) as { n: number }
    ).n;
  const itPostsOf = (h: Harness, fragment: string) =>
    h.fake
      .ok("chat.postMessage")
      .filter((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes(fragment));
  const commandBody = (repository: string) =>
    slashCommandBody({
      text: `${repository}:1 build the docs`,
      userId: "UREQUESTER",
      responseUrl: h.fake.responseUrl(),
    });

  describe("when the same signed slash command is delivered three times", () => {
    it("answers each with 200 and makes one request and one IT post", async () => {
      const body = commandBody("team/replayed");
      const timestampSec = nowSec();
      const replies = [];
      for (let i = 0; i < 3; i++) replies.push(await postSigned(h.target, body, FORM, { timestampSec }));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(replies[0]!.text).toContain("team/replayed:1");
      expect(replies[1]!.text).toBe("");
      expect(replies[2]!.text).toBe("");
      await itMessage(h, "team/replayed");
      await h.bot.idle();
      expect(requestsFor(h, "team/replayed")).toBe(1);
      expect(itPostsOf(h, "team/replayed")).toHaveLength(1);
    });

    it("takes one of three identical deliveries that arrive at once", async () => {
      const body = commandBody("team/replayed-at-once");
      const timestampSec = nowSec();
      const replies = await Promise.all(
        [1, 2, 3].map(() => postSigned(h.target, body, FORM, { timestampSec })),
      );
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      await h.bot.idle();
      expect(requestsFor(h, "team/replayed-at-once")).toBe(1);
      expect(itPostsOf(h, "team/replayed-at-once")).toHaveLength(1);
    });
  });

  describe("when Slack retries a delivery already taken (X-Slack-Retry-Num, a new timestamp)", () => {
    it("answers 200 and handles it once", async () => {
      const body = commandBody("team/retried");
      const first = await postSigned(h.target, body, FORM, { timestampSec: nowSec() - 60 });
      expect(first.status).toBe(200);
      const retry = await postSigned(h.target, body, FORM, {
        timestampSec: nowSec(),
        headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
      });
      expect(retry.status).toBe(200);
      expect(retry.text).toBe("");
      await h.bot.idle();
      expect(requestsFor(h, "team/retried")).toBe(1);
      expect(itPostsOf(h, "team/retried")).toHaveLength(1);
    });

    it("handles a retry whose first delivery never arrived", async () => {
      const body = commandBody("team/retry-first-seen");
      const retry = await postSigned(h.target, body, FORM, { headers: { "x-slack-retry-num": "2" } });
      expect(retry.status).toBe(200);
      expect(retry.text).toContain("team/retry-first-seen:1");
      await itMessage(h, "team/retry-first-seen");
      expect(requestsFor(h, "team/retry-first-seen")).toBe(1);
    });
  });

  describe("when another process on the same store gets the replay", () => {
    it("answers 200 and makes no second request", async () => {
      const other = await startHarness({ env: { IMAGE_CHECK_DB: h.db.path } });
      try {
        const body = commandBody("team/replayed-elsewhere");
        const timestampSec = nowSec();
        expect((await postSigned(h.target, body, FORM, { timestampSec })).status).toBe(200);
        const replay = await postSigned(other.target, body, FORM, { timestampSec });
        expect(replay.status).toBe(200);
        expect(replay.text).toBe("");
        await h.bot.idle();
        await other.bot.idle();
        expect(requestsFor(h, "team/replayed-elsewhere")).toBe(1);
        expect(other.fake.ok("chat.postMessage")).toHaveLength(0);
      } finally {
        await other.close();
      }
    });
  });

  describe("after the delivery memory's lifetime", () => {
    it("keeps no delivery past its expiry once newer ones arrive", async () => {
      const db = h.db.sqlite;
      db.prepare(
        "INSERT INTO slack_deliveries (signature, body_hash, received_at, expires_at) VALUES ('v0=old', 'old', ?, ?)",
      ).run("2020-01-01T00:00:00.000Z", "2020-01-01T00:15:00.000Z");
      await postSigned(h.target, commandBody("team/after-expiry"), FORM);
      expect(
        db.prepare("SELECT count(*) AS n FROM slack_deliveries WHERE signature = 'v0=old'").get(),
      ).toEqual({ n: 0 });
    });
  });
});
