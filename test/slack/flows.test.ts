import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { defaultPolicy } from "../../src/policy/schema.js";
import { createSlackApp } from "../../src/slack/app.js";
import { JOB } from "../../src/slack/ids.js";
import { openStore } from "../../src/store/service.js";
import { openQueue } from "../../src/worker/queue.js";
import type { JobContext, JobHandler } from "../../src/worker/types.js";
import {
  buttonsOf,
  command,
  type Harness,
  IT_CHANNEL,
  itMessage,
  requestToIt,
  startHarness,
} from "../support/slack-harness.js";
import { assertInert, assertWithinLimits } from "../support/slack-limits.js";
import { sendClick, sendEvent, sendSubmission } from "../support/slack-requests.js";

describe("the Slack app", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("when no reason was typed and the verdict is not pass", () => {
    it("asks for the reason in a modal, stores it, then routes the request to IT", async () => {
      const { answer } = await command(h, "team/no-reason:1");
      const report = await answer();
      const [button] = buttonsOf(report.body);
      expect(button?.actionId).toBe("image_check.request_approval");
      const requestId = button!.value;
      expect(
        h.fake.ok("chat.postMessage").filter((c) => JSON.stringify(c.body).includes("team/no-reason")),
      ).toHaveLength(0);

      // Someone else cannot give the requester's reason.
      await sendClick(h.target, {
        actionId: "image_check.request_approval",
        value: requestId,
        userId: "UNOBODY",
        responseUrl: h.fake.responseUrl(),
      });
      const refused = await sendSubmission(h.target, {
        callbackId: "image_check.reason",
        privateMetadata: requestId,
        userId: "UNOBODY",
        values: { reason: { reason: "not mine to give" } },
      });
      expect(JSON.stringify(refused.json)).toContain("Only the person who asked");
      expect((await h.bot.store.getRequest(requestId))?.reason).toBeNull();

      await sendClick(h.target, {
        actionId: "image_check.request_approval",
        value: requestId,
        userId: "UREQUESTER",
        responseUrl: h.fake.responseUrl(),
      });
      const modal = await h.fake.until(
        () =>
          h.fake
            .ok("views.open")
            .find((c) => (c.body.view as { callback_id?: string }).callback_id === "image_check.reason"),
        "the reason modal",
      );
      expect((modal.body.view as { private_metadata: string }).private_metadata).toBe(requestId);

      const tooShort = await sendSubmission(h.target, {
        callbackId: "image_check.reason",
        privateMetadata: requestId,
        userId: "UREQUESTER",
        values: { reason: { reason: "x" } },
      });
      expect(tooShort.json).toMatchObject({ response_action: "errors" });

      const ok = await sendSubmission(h.target, {
        callbackId: "image_check.reason",
        privateMetadata: requestId,
        userId: "UREQUESTER",
        values: { reason: { reason: "the docs build needs it" } },
      });
      expect(ok.status).toBe(200);
      expect((await h.bot.store.getRequest(requestId))?.reason).toBe("the docs build needs it");
      const post = await itMessage(h, "team/no-reason");
      expect(JSON.stringify(post.body)).toContain("the docs build needs it");
      await h.bot.idle();
      expect((await h.bot.store.getRequest(requestId))?.itMessage).toEqual({
        channel: IT_CHANNEL,
        ts: post.response?.ts,
      });
    });
  });

  describe("when the verdict is pass", () => {
    it("records an automatic approval and tells the requester, without asking IT", async () => {
      const report = await (await command(h, "team/pass-app:2 tests")).answer();
      const json = JSON.stringify(report.body);
      expect(json).toContain("*Approved* by policy");
      await h.bot.idle();
      expect(
        h.fake.ok("chat.postMessage").filter((c) => JSON.stringify(c.body).includes("team/pass-app")),
      ).toHaveLength(0);
    });
  });

  describe("when the digest is already approved", () => {
    it("says who approved it and until when, and does not ask IT again", async () => {
      await command(h, "team/twice:1 first time");
      const post = await itMessage(h, "team/twice");
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: buttonsOf(post.body)[0]!.value,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      const second = await (await command(h, "team/twice:1 second time", "UOTHER")).answer();
      const json = JSON.stringify(second.body);
      expect(json).toContain("already approved");
      expect(json).toContain("<@UAPPROVER>");
      expect(json).toContain("valid until");
      await h.bot.idle();
      expect(
        h.fake
          .ok("chat.postMessage")
          .filter((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes("team/twice")),
      ).toHaveLength(1);
    });

    it("settles the new request on that approval: not pending, no new decision", async () => {
      await h.bot.idle();
      const store = h.bot.store;
      const requests = h.db.sqlite
        .prepare("SELECT id FROM requests WHERE reference = 'team/twice:1' ORDER BY seq")
        .all() as { id: string }[];
      const [first, second] = await Promise.all(
        requests.map(async (r) => (await store.getRequest(r.id, new Date()))!),
      );
      expect(second).toMatchObject({ status: "approved", decisionId: first!.decisionId });
      expect((await store.pendingRequests({ limit: 500 })).items.map((r) => r.id)).not.toContain(second!.id);
      expect((await store.history("docker.io/team/twice", {}, new Date())).items).toHaveLength(1);
    });
  });

  describe("when the digest was rejected", () => {
    it("tells the requester who rejected it and why, and lets them ask IT to reconsider", async () => {
      const { requestId: firstId } = await requestToIt(h, "team/refused:1");
      await sendClick(h.target, {
        actionId: "image_check.reject",
        value: firstId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      await sendSubmission(h.target, {
        callbackId: "image_check.reject_reason",
        privateMetadata: firstId,
        userId: "UAPPROVER",
        values: { reason: { reason: "ships a cryptominer" } },
      });
      await h.bot.idle();

      const second = await (await command(h, "team/refused:1 I still need it", "UOTHER")).answer();
      const json = JSON.stringify(second.body);
      expect(json).toContain("already rejected");
      expect(json).toContain("<@UAPPROVER>");
      expect(json).toContain("ships a cryptominer");
      const [button] = buttonsOf(second.body);
      expect(button?.actionId).toBe("image_check.request_approval");
      const secondId = button!.value;
      await h.bot.idle();
      expect(await h.bot.store.getRequest(secondId)).toMatchObject({ status: "rejected" });
      expect((await h.bot.store.pendingRequests({ limit: 500 })).items.map((r) => r.id)).not.toContain(
        secondId,
      );
      expect(
        h.fake
          .ok("chat.postMessage")
          .filter((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes("team/refused")),
      ).toHaveLength(1);

      // Asking again: the reason modal, then the request is pending and goes to IT.
      await sendClick(h.target, {
        actionId: "image_check.request_approval",
        value: secondId,
        userId: "UOTHER",
        responseUrl: h.fake.responseUrl(),
      });
      await h.fake.until(
        () =>
          h.fake
            .ok("views.open")
            .find((c) => (c.body.view as { private_metadata?: string }).private_metadata === secondId),
        "the reason modal",
      );
      const submitted = await sendSubmission(h.target, {
        callbackId: "image_check.reason",
        privateMetadata: secondId,
        userId: "UOTHER",
        values: { reason: { reason: "1.0.1 removed the miner" } },
      });
      expect(submitted.status).toBe(200);
      expect(await h.bot.store.getRequest(secondId)).toMatchObject({
        status: "pending",
        reason: "1.0.1 removed the miner",
        decisionId: null,
      });
      const post = await h.fake.until(
        () =>
          h.fake
            .ok("chat.postMessage")
            .find(
              (c) =>
                c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes("1.0.1 removed the miner"),
            ),
        "the IT message of the reconsidered request",
      );
      expect(buttonsOf(post.body).map((b) => b.value)).toEqual([secondId, secondId]);
    });
  });

  describe("when the process died between posting to IT and storing the post", () => {
    /** Run the IT post job again, as a retry (attempt 2) after a crash would. */
    const retryItPost = async (requestId: string) => {
      const spec = h.bot.app.jobHandlers[JOB.itRequest] as { run: JobHandler };
      const job = h.db.sqlite
        .prepare("SELECT id FROM jobs WHERE idempotency_key = ? ORDER BY id DESC")
        .get(`${JOB.itRequest}:${requestId}`) as { id: number };
      const ctx = {
        signal: new AbortController().signal,
        attempt: 2,
        maxAttempts: 5,
        job: (await openQueue(h.bot.store).get(job.id))!,
      } satisfies JobContext;
      return spec.run({ requestId }, ctx);
    };
    /** Forget the stored post, as if the process died right after chat.postMessage. */
    const forgetPost = (requestId: string) =>
      h.db.sqlite.prepare("UPDATE requests SET it_channel = NULL, it_ts = NULL WHERE id = ?").run(requestId);
    const itPostsOf = (fragment: string) =>
      h.fake
        .ok("chat.postMessage")
        .filter((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes(fragment));

    it("finds its earlier post by its metadata instead of posting twice", async () => {
      const { post, requestId } = await requestToIt(h, "team/crashed:1");
      await h.bot.idle();
      expect(post.body.metadata).toEqual({
        event_type: "image_check_request",
        event_payload: { request_id: requestId },
      });
      forgetPost(requestId);
      await retryItPost(requestId);
      expect(itPostsOf("team/crashed")).toHaveLength(1);
      expect((await h.bot.store.getRequest(requestId))?.itMessage).toEqual({
        channel: IT_CHANNEL,
        ts: post.response?.ts,
      });
      expect(h.fake.ok("conversations.history").at(-1)?.body).toMatchObject({
        channel: IT_CHANNEL,
        include_all_metadata: "true",
      });
    });

    it("posts again when Slack refuses to show the channel's history (no history scope)", async () => {
      const { requestId } = await requestToIt(h, "team/no-scope:1");
      await h.bot.idle();
      forgetPost(requestId);
      h.fake.fail("conversations.history", { kind: "error", error: "missing_scope" });
      await retryItPost(requestId);
      const posts = itPostsOf("team/no-scope");
      expect(posts).toHaveLength(2);
      expect((await h.bot.store.getRequest(requestId))?.itMessage?.ts).toBe(posts[1]!.response?.ts);
    });

    it("retries later, without posting, when Slack cannot answer the look-up now", async () => {
      const { requestId } = await requestToIt(h, "team/slack-down:1");
      await h.bot.idle();
      forgetPost(requestId);
      // The client's own retries included.
      h.fake.fail("conversations.history", { kind: "http", status: 503, times: 3 });
      await expect(retryItPost(requestId)).rejects.toMatchObject({ code: "SERVER_ERROR" });
      expect(itPostsOf("team/slack-down")).toHaveLength(1);
    });
  });

  describe("when Slack rate-limits or fails a post", () => {
    it("retries the IT message after Retry-After and after an error, and loses nothing", async () => {
      h.fake.fail("chat.postMessage", { kind: "rate_limited", retryAfterSeconds: 1 });
      await command(h, "team/limited:1 for the build");
      const post = await itMessage(h, "team/limited");
      expect(h.fake.calls.filter((c) => c.method === "chat.postMessage" && c.status === 429)).toHaveLength(1);
      // The worker rescheduled the post for Retry-After later, without spending an attempt on the 429.
      await h.bot.idle();
      const requestId = buttonsOf(post.body)[0]!.value;
      const job = h.db.sqlite
        .prepare(
          "select attempts, available_at, created_at, last_error_code from jobs where kind = 'slack.it-request' and payload like ?",
        )
        .get(`%${requestId}%`) as {
        attempts: number;
        available_at: string;
        created_at: string;
        last_error_code: string;
      };
      expect(job).toMatchObject({ attempts: 1, last_error_code: "TOO_MANY_REQUESTS" });
      expect(Date.parse(job.available_at) - Date.parse(job.created_at)).toBeGreaterThanOrEqual(1000);

      h.fake.fail("chat.update", { kind: "error", error: "internal_error" });
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: buttonsOf(post.body)[0]!.value,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      await h.fake.until(
        () =>
          h.fake
            .ok("chat.update")
            .find(
              (c) =>
                JSON.stringify(c.body).includes("team/limited") &&
                c.status === 200 &&
                !JSON.stringify(c.body).includes("image_check.approve"),
            ),
        "the update after the failure",
      );
      expect(h.fake.calls.filter((c) => c.method === "chat.update").length).toBeGreaterThanOrEqual(2);
      expect(await h.bot.app.metrics.render()).toMatch(
        /image_check_slack_api_errors_total\{error="ratelimited",method="chat.postMessage"\} 1/,
      );
    });
  });

  describe("when asked a query", () => {
    it("answers help, status, history and pending in the ack, within Slack's limits", async () => {
      for (const text of [
        "help",
        "",
        "status team/twice:1",
        "history team/twice",
        "pending",
        "status",
        "status Not_A_Ref",
      ]) {
        const { ack } = await command(h, text, "UAPPROVER");
        const body = ack.json as { response_type: string; blocks: never[] };
        expect(body.response_type).toBe("ephemeral");
        assertWithinLimits(body.blocks, 50);
        assertInert(body);
      }
      const status = (await command(h, "status team/twice:1")).ack.text;
      expect(status).toContain("*Approved* by <@UAPPROVER>");
      const history = (await command(h, "history docker.io/team/twice")).ack.text;
      expect(history).toContain("team/twice:1");
      const usage = (await command(h, "status")).ack.text;
      expect(usage).toContain("needs exactly one");
    });

    it("shows approvers the pending requests with buttons, others without", async () => {
      await command(h, "team/pending-one:1 needed");
      await h.bot.idle();
      const asApprover = (await command(h, "pending", "UAPPROVER")).ack.json as Record<string, unknown>;
      expect(buttonsOf(asApprover).some((b) => b.actionId === "image_check.approve")).toBe(true);
      const asUser = (await command(h, "pending", "UNOBODY")).ack.json as Record<string, unknown>;
      expect(JSON.stringify(asUser)).toContain("team/pending-one");
      expect(buttonsOf(asUser)).toEqual([]);
    });
  });

  describe("when someone opens the Home tab", () => {
    it("publishes pending requests with buttons for approvers and recent decisions", async () => {
      const reply = await sendEvent(h.target, {
        type: "app_home_opened",
        user: "UAPPROVER",
        channel: "D0HOME",
        tab: "home",
      });
      expect(reply.status).toBe(200);
      const publish = await h.fake.until(
        () => h.fake.ok("views.publish").find((c) => c.body.user_id === "UAPPROVER"),
        "the Home tab",
      );
      const view = publish.body.view as { type: string; blocks: never[] };
      expect(view.type).toBe("home");
      assertWithinLimits(view.blocks, 100);
      const json = JSON.stringify(view);
      expect(json).toContain("Recent decisions");
      expect(json).toContain("image_check.approve");
    });

    it("decides from Home and refreshes it", async () => {
      await command(h, "team/from-home:1 needed");
      const post = await itMessage(h, "team/from-home");
      const requestId = buttonsOf(post.body)[0]!.value;
      const before = h.fake.ok("views.publish").length;
      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: requestId,
        userId: "UBOSS",
        view: { id: "VHOME", type: "home" },
      });
      expect((await h.bot.store.getRequest(requestId))?.status).toBe("approved");
      await h.fake.until(
        () =>
          h.fake
            .ok("views.publish")
            .slice(before)
            .find((c) => c.body.user_id === "UBOSS"),
        "the refreshed Home tab",
      );
      await h.fake.until(
        () => h.fake.ok("chat.update").find((c) => JSON.stringify(c.body).includes(requestId)),
        "the IT message update",
      );
    });
  });

  describe("when asked for health and metrics", () => {
    it("answers /healthz and /metrics on the same port", async () => {
      const health = await fetch(`${h.target.baseUrl}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok", db: "ok", worker: "running", mode: "http" });
      const metrics = await fetch(`${h.target.baseUrl}/metrics`);
      expect(metrics.headers.get("content-type")).toContain("text/plain");
      const text = await metrics.text();
      expect(text).toContain("# TYPE image_check_slash_commands_total counter");
      expect(text).toMatch(/image_check_slash_commands_total\{subcommand="check"\} \d+/);
      expect(text).toMatch(/image_check_checks_total\{verdict="review"\} \d+/);
      expect(text).toMatch(/image_check_ack_seconds_bucket\{le="\+Inf"\} \d+/);
      expect(text).toMatch(/image_check_queue_jobs\{status="done"\} \d+/);
      expect(text).toMatch(/image_check_slack_api_calls_total\{method="chat.postMessage"\} \d+/);
    });
  });
});

describe("the Slack app's configuration", () => {
  it("names every missing or wrong variable, one line each", async () => {
    const store = openStore(":memory:");
    try {
      const config = loadConfig({
        SLACK_BOT_TOKEN: "xoxp-user-token",
        IMAGE_CHECK_IT_CHANNEL: "#it-approvals",
        SLACK_APP_TOKEN: "nope",
      });
      let problems: string[] = [];
      try {
        createSlackApp({ config, store, policy: defaultPolicy(), policyVersion: "p", now: () => new Date() });
      } catch (err) {
        expect(err).toMatchObject({ code: "INVALID_CONFIG" });
        problems = (err as { problems: string[] }).problems;
      }
      expect(problems.map((p) => p.split(":")[0])).toEqual([
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "IMAGE_CHECK_IT_CHANNEL",
        "IMAGE_CHECK_APPROVERS",
      ]);
      const http = loadConfig({
        SLACK_BOT_TOKEN: "xoxb-1",
        IMAGE_CHECK_IT_CHANNEL: "C01",
        IMAGE_CHECK_APPROVERS: "U01",
      });
      expect(() =>
        createSlackApp({
          config: http,
          store,
          policy: defaultPolicy(),
          policyVersion: "p",
          now: () => new Date(),
        }),
      ).toThrow(/^SLACK_SIGNING_SECRET: /);
    } finally {
      await store.close();
    }
  });

  it("serve lists wrong and missing variables together, one line each, and exits 64", async () => {
    const { runCli } = await import("../support/cli.js");
    const r = await runCli(["serve"], {
      env: { IMAGE_CHECK_DB: ":memory:", IMAGE_CHECK_APPROVERS: "U01ABC,bad", PORT: "abc" },
      cwd: "/",
    });
    expect(r.code).toBe(64);
    expect(
      r.stderr
        .trim()
        .split("\n")
        .map((l) => l.replace(/^image-check serve: /, "").split(":")[0]),
    ).toEqual([
      "PORT",
      "IMAGE_CHECK_APPROVERS",
      "SLACK_BOT_TOKEN",
      "SLACK_SIGNING_SECRET",
      "IMAGE_CHECK_IT_CHANNEL",
    ]);
  });

  it("refuses to start when Slack refuses the token", async () => {
    const { startFakeSlack } = await import("../support/fake-slack.js");
    const fake = await startFakeSlack();
    fake.fail("auth.test", { kind: "error", error: "invalid_auth", times: 5 });
    const store = openStore(":memory:");
    try {
      const config = loadConfig({
        SLACK_BOT_TOKEN: "xoxb-revoked",
        SLACK_SIGNING_SECRET: "s",
        SLACK_API_URL: fake.apiUrl,
        IMAGE_CHECK_IT_CHANNEL: "C01",
        IMAGE_CHECK_APPROVERS: "U01",
        PORT: "0",
      });
      const app = createSlackApp({
        config,
        store,
        policy: defaultPolicy(),
        policyVersion: "p",
        now: () => new Date(),
        logger: quiet,
      });
      await expect(app.start()).rejects.toMatchObject({
        code: "INVALID_CONFIG",
        problems: ["SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"],
      });
    } finally {
      await store.close();
      await fake.close();
    }
  });
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
