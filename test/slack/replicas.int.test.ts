// Two `serve` replicas on one PostgreSQL database and one fake Slack Web API (issue 11, "End to
// end"): the replicas race for the same decision, one of them dies in the middle of a check (or of
// its IT post), and both run the watch schedule. In-process bots where nobody is killed (two startBot on the same
// IMAGE_CHECK_DATABASE_URL); two child processes where one is SIGKILLed.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultPolicy, type Policy } from "../../src/policy/schema.js";
import { openConfiguredStore } from "../../src/store/open.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { checkedRequest } from "../store/support.js";
import { eventually } from "../support/eventually.js";
import { type FakeSlack, type SlackCall, startFakeSlack } from "../support/fake-slack.js";
import { createDatabase, queryOnce } from "../support/postgres.js";
import { makeReport } from "../support/slack-fixtures.js";
import { buttonsOf, type Harness, IT_CHANNEL, requestToIt, startHarness } from "../support/slack-harness.js";
import {
  postSigned,
  sendClick,
  sendCommand,
  sendSubmission,
  slashCommandBody,
} from "../support/slack-requests.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SECRET = "replicas-test-secret";
const DAY = 86_400_000;

/** The IT channel posts of the approval request `requestId` (found by their message metadata). */
function itPostsOf(fake: FakeSlack, requestId: string): SlackCall[] {
  return fake.ok("chat.postMessage").filter((c) => {
    const metadata = c.body.metadata as { event_payload?: { request_id?: string } } | undefined;
    return c.body.channel === IT_CHANNEL && metadata?.event_payload?.request_id === requestId;
  });
}

/** No job of any kind is queued or running on the shared database. */
async function queueDrained(url: string): Promise<boolean> {
  const [row] = await queryOnce<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')",
  );
  return row?.n === "0";
}

describe("two serve replicas on one PostgreSQL database", () => {
  describe("when Slack delivers one signed slash command to both replicas, then retries it on one", () => {
    const FORM = "application/x-www-form-urlencoded";
    let fake: FakeSlack;
    let url: string;
    let a: Harness;
    let b: Harness;
    let replies: { status: number; text: string }[];

    beforeAll(async () => {
      fake = await startFakeSlack();
      url = await createDatabase("replicas_replay");
      const env = { IMAGE_CHECK_DATABASE_URL: url };
      [a, b] = await Promise.all([startHarness({ fake, env }), startHarness({ fake, env })]);
      const body = slashCommandBody({
        text: "team/replayed:1 build the docs",
        userId: "UREPLAY",
        responseUrl: fake.responseUrl(),
      });
      const timestampSec = Math.floor(Date.now() / 1000);
      // The same delivery at both replicas at once (a replay), then Slack's retry of it, signed
      // anew a second later, at the replica that did not answer first.
      replies = await Promise.all([
        postSigned(a.target, body, FORM, { timestampSec }),
        postSigned(b.target, body, FORM, { timestampSec }),
      ]);
      replies.push(
        await postSigned(b.target, body, FORM, {
          timestampSec: timestampSec + 1,
          headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
        }),
      );
      await eventually(
        async () => (await queueDrained(url)) && fake.ok("chat.postMessage").length > 0,
        "the posts",
      );
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await fake?.close();
    });

    it("answers every copy with 200, and only one of them with the request", () => {
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(replies.filter((r) => r.text.includes("team/replayed:1"))).toHaveLength(1);
    });

    it("makes one request, one check job and one IT post", async () => {
      const [requests] = await queryOnce<{ n: string }>(
        url,
        "SELECT count(*) AS n FROM requests WHERE requested_by = 'UREPLAY'",
      );
      const [jobs] = await queryOnce<{ n: string }>(
        url,
        "SELECT count(*) AS n FROM jobs WHERE kind = 'check'",
      );
      expect([requests?.n, jobs?.n]).toEqual(["1", "1"]);
      const [request] = await queryOnce<{ id: string }>(
        url,
        "SELECT id FROM requests WHERE requested_by = 'UREPLAY'",
      );
      expect(itPostsOf(fake, request!.id)).toHaveLength(1);
    });
  });

  describe("when an approver approves on one replica while another rejects on the other, 10 times", () => {
    const REQUESTS = 10;
    let fake: FakeSlack;
    let url: string;
    let a: Harness;
    let b: Harness;
    let ids: string[];
    let approvals: { reply: { status: number }; responseUrl: string }[];
    let rejections: { status: number; json: unknown }[];

    beforeAll(async () => {
      fake = await startFakeSlack();
      url = await createDatabase("replicas_race");
      const env = { IMAGE_CHECK_DATABASE_URL: url };
      [a, b] = await Promise.all([startHarness({ fake, env }), startHarness({ fake, env })]);
      // Ten pending requests by ten people, asked on either replica, each for an image of its own
      // (a decision on one digest never covers another request here).
      ids = await Promise.all(
        Array.from(
          { length: REQUESTS },
          async (_, i) => (await requestToIt(i % 2 ? b : a, `team/race-${i}:1`, `UREQ${i}`)).requestId,
        ),
      );
      // The second approver opens the rejection form on replica B while each request is pending.
      for (const id of ids)
        expect(
          (await sendClick(b.target, { actionId: "image_check.reject", value: id, userId: "UBOSS" })).status,
        ).toBe(200);
      // Then, all at once: Approve clicked on A, the rejection submitted on B, for every request.
      const responseUrls = ids.map(() => fake.responseUrl());
      [approvals, rejections] = await Promise.all([
        Promise.all(
          ids.map(async (id, i) => ({
            reply: await sendClick(a.target, {
              actionId: "image_check.approve",
              value: id,
              userId: "UAPPROVER",
              responseUrl: responseUrls[i],
            }),
            responseUrl: responseUrls[i]!,
          })),
        ),
        Promise.all(
          ids.map((id) =>
            sendSubmission(b.target, {
              callbackId: "image_check.reject_reason",
              privateMetadata: id,
              userId: "UBOSS",
              values: { reason: { reason: "too many findings" } },
            }),
          ),
        ),
      ]);
      await eventually(() => queueDrained(url), "both replicas to finish the Slack jobs");
      await Promise.all([a.bot.idle(), b.bot.idle()]);
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await fake?.close();
    });

    it("acks every click and every submission", () => {
      expect(approvals.map((x) => x.reply.status)).toEqual(ids.map(() => 200));
      expect(rejections.map((x) => x.status)).toEqual(ids.map(() => 200));
    });

    it("records exactly one decision for each request, the one the request's status shows", async () => {
      const decided = await queryOnce<{ id: string; status: string; decisions: string[] }>(
        url,
        `SELECT r.id, r.status, array_agg(d.decision ORDER BY d.seq) AS decisions
         FROM requests r JOIN decisions d ON d.request_id = r.id
         WHERE r.id = ANY($1) GROUP BY r.id, r.status`,
        [ids],
      );
      expect(decided).toHaveLength(REQUESTS);
      for (const r of decided) expect(r.decisions).toEqual([r.status]);
    });

    it("writes one audit entry for each decision, by the approver who won", async () => {
      const entries = await queryOnce<{ request_id: string; action: string; actor: string }>(
        url,
        `SELECT a.request_id, a.action, a.actor FROM audit_log a
         WHERE a.request_id = ANY($1) AND a.action LIKE 'decision.%'`,
        [ids],
      );
      const decisions = await queryOnce<{ request_id: string; decision: string; decided_by: string }>(
        url,
        "SELECT request_id, decision, decided_by FROM decisions WHERE request_id = ANY($1)",
        [ids],
      );
      const key = (id: string, action: string, actor: string) => `${id} ${action} ${actor}`;
      expect(entries.map((e) => key(e.request_id, e.action, e.actor)).sort()).toEqual(
        decisions.map((d) => key(d.request_id, `decision.${d.decision}`, d.decided_by)).sort(),
      );
    });

    it("tells the loser of each race that the request was already decided, naming the winner", async () => {
      const decisions = await queryOnce<{ request_id: string; decision: string }>(
        url,
        "SELECT request_id, decision FROM decisions WHERE request_id = ANY($1)",
        [ids],
      );
      const decisionOf = new Map(decisions.map((d) => [d.request_id, d.decision]));
      for (const [i, id] of ids.entries()) {
        const noteTo = (responseUrl: string) => fake.responses.find((r) => responseUrl.endsWith(`/${r.id}`));
        if (decisionOf.get(id) === "approved") {
          // The rejection form is replaced with why nothing changed.
          const view = (rejections[i]!.json as { response_action?: string; view?: unknown }) ?? {};
          expect(view.response_action).toBe("update");
          expect(JSON.stringify(view.view)).toContain("This request was already decided");
          expect(JSON.stringify(view.view)).toContain("*Approved* by <@UAPPROVER>");
          expect(noteTo(approvals[i]!.responseUrl)).toBeUndefined();
        } else {
          // The approver who clicked second gets an ephemeral note through the click's response_url.
          expect(rejections[i]!.json).toBeNull();
          const note = await fake.until(() => noteTo(approvals[i]!.responseUrl), `the note on ${id}`);
          expect(JSON.stringify(note.body)).toContain("This request was already decided");
          expect(JSON.stringify(note.body)).toContain("*Rejected* by <@UBOSS>");
        }
      }
    });

    it("tells each requester once and updates each IT message, whichever replica won", () => {
      for (const [i, id] of ids.entries()) {
        const dms = fake
          .ok("chat.postMessage")
          .filter(
            (c) =>
              c.body.channel === `UREQ${i}` &&
              (c.body.metadata as { event_payload?: { request_id?: string } } | undefined)?.event_payload
                ?.request_id === id,
          );
        expect(dms, `the decision DMs of ${id}`).toHaveLength(1);
        expect(itPostsOf(fake, id)).toHaveLength(1);
        expect(
          fake.ok("chat.update").filter((c) => JSON.stringify(c.body).includes(id)).length,
        ).toBeGreaterThan(0);
      }
    });
  });

  describe("when a replica is killed", () => {
    const LEASE_MS = 1500;
    let fake: FakeSlack;
    let url: string;
    let dir: string;
    let env: Record<string, string>;
    let stallFile: string;
    const started: ServeChild[] = [];

    beforeAll(async () => {
      fake = await startFakeSlack();
      url = await createDatabase("replicas_kill");
      dir = mkdtempSync(join(tmpdir(), "image-check-replicas-"));
      stallFile = join(dir, "stall");
      env = {
        HOME: dir,
        SLACK_BOT_TOKEN: "xoxb-replicas",
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: fake.apiUrl,
        IMAGE_CHECK_IT_CHANNEL: IT_CHANNEL,
        IMAGE_CHECK_APPROVERS: "UAPPROVER",
        IMAGE_CHECK_DB: join(dir, "never.db"),
        IMAGE_CHECK_DATABASE_URL: url,
        PORT: "0",
        CHILD_RUNNER: "stall-while-file",
        CHILD_STALL_FILE: stallFile,
        CHILD_LEASE_MS: String(LEASE_MS),
      };
    });
    afterAll(async () => {
      for (const r of started)
        if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill("SIGKILL");
      await Promise.all(started.map((r) => r.exited));
      await fake?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Two `serve` processes on the database, and `/image-check text` sent to the first. */
    async function twoReplicasAsked(text: string) {
      const replicas = await Promise.all([startServe(env), startServe(env)]);
      started.push(...replicas);
      const responseUrl = fake.responseUrl();
      const ack = await sendCommand(
        { baseUrl: `http://127.0.0.1:${replicas[0]!.port}`, signingSecret: SECRET },
        { text, userId: "UREQUESTER", responseUrl },
      );
      expect(ack.status).toBe(200);
      return { replicas, responseUrl };
    }

    /** The running job of `kind`, and the replica that holds its lease (owner `host:pid:random`). */
    async function runningJob(kind: string, replicas: ServeChild[]) {
      const job = await eventually(
        async () =>
          (
            await queryOnce<{ id: string; lease_owner: string; payload: string }>(
              url,
              "SELECT id, lease_owner, payload FROM jobs WHERE kind = $1 AND status = 'running'",
              [kind],
            )
          )[0],
        `a replica to claim the ${kind} job`,
      );
      const owner = replicas.find((r) => job.lease_owner.split(":")[1] === String(r.proc.pid));
      expect(owner, `the replica of lease owner ${job.lease_owner}`).toBeDefined();
      return {
        job,
        requestId: (JSON.parse(job.payload) as { requestId: string }).requestId,
        owner: owner!,
        other: replicas.find((r) => r !== owner)!,
      };
    }

    async function attemptsOf(jobId: string) {
      return (
        await queryOnce<{ status: string; attempts: number }>(
          url,
          "SELECT status, attempts FROM jobs WHERE id = $1",
          [jobId],
        )
      )[0];
    }

    async function stop(replica: ServeChild) {
      replica.proc.kill("SIGTERM");
      expect(await replica.exited).toEqual({ code: 0, signal: null });
    }

    it("in the middle of a check, the other replica takes the check once the lease runs out and finishes it, with one report and one IT post", async () => {
      // Whichever replica claims the check stalls in it; the next claim runs it as usual.
      writeFileSync(stallFile, "");
      const { replicas, responseUrl } = await twoReplicasAsked("team/crash:1 needed for the build");
      const { job, requestId, owner: victim, other: survivor } = await runningJob("check", replicas);
      rmSync(stallFile);
      victim.proc.kill("SIGKILL");
      expect(await victim.exited).toEqual({ code: null, signal: "SIGKILL" });

      const post = await fake.until(() => itPostsOf(fake, requestId)[0], "the IT post of team/crash");
      expect(buttonsOf(post.body)[0]!.value).toBe(requestId);
      await eventually(() => queueDrained(url), "the survivor to finish every job");

      // Claimed twice: by the victim, then by the survivor after the victim's lease ran out.
      expect(await attemptsOf(job.id)).toEqual({ status: "done", attempts: 2 });
      const [request] = await queryOnce<{ status: string; verdict: string }>(
        url,
        "SELECT status, verdict FROM requests WHERE id = $1",
        [requestId],
      );
      expect(request).toEqual({ status: "pending", verdict: "review" });
      expect(itPostsOf(fake, requestId)).toHaveLength(1);
      const reports = fake.responses.filter((r) => responseUrl.endsWith(`/${r.id}`));
      expect(reports).toHaveLength(1);
      expect(JSON.stringify(reports[0]!.body)).toContain("team/crash");
      await stop(survivor);
    });

    it("after Slack took its IT post but before it heard back, the other replica finds that post after the lease and posts none again", async () => {
      const held = fake.hold("chat.postMessage");
      const { replicas } = await twoReplicasAsked("team/crash-post:1 needed for the build");
      await held.arrived;
      const {
        job,
        requestId,
        owner: victim,
        other: survivor,
      } = await runningJob("slack.it-request", replicas);
      victim.proc.kill("SIGKILL");
      expect(await victim.exited).toEqual({ code: null, signal: "SIGKILL" });
      // Slack posts the message all the same; only its answer is lost with the victim.
      held.release();
      const post = await fake.until(() => itPostsOf(fake, requestId)[0], "the IT post of team/crash-post");
      await eventually(() => queueDrained(url), "the survivor to finish every job");

      expect(await attemptsOf(job.id)).toEqual({ status: "done", attempts: 2 });
      expect(itPostsOf(fake, requestId)).toHaveLength(1);
      // The survivor recorded the victim's post as the request's IT message (its buttons get updated).
      const [request] = await queryOnce<{ it_channel: string; it_ts: string }>(
        url,
        "SELECT it_channel, it_ts FROM requests WHERE id = $1",
        [requestId],
      );
      expect(request).toEqual({ it_channel: IT_CHANNEL, it_ts: post.response?.ts });
      await stop(survivor);
    });
  });

  describe("when both replicas run the watch schedule over approvals that are due", () => {
    const APPROVALS = 6;
    let fake: FakeSlack;
    let url: string;
    let replicas: Harness[];
    const rechecked: { replica: string; digest: string }[] = [];
    let digests: string[];

    beforeAll(async () => {
      fake = await startFakeSlack();
      url = await createDatabase("replicas_watch");
      // Approved two days ago under a daily watch: each approval's re-check is a day overdue.
      const store = await openConfiguredStore({ dbPath: "", databaseUrl: url });
      const decidedAt = new Date(Date.now() - 2 * DAY);
      try {
        digests = [];
        for (let i = 0; i < APPROVALS; i++) {
          const request = await checkedRequest(store, {
            repository: `docker.io/team/watched-${i}`,
            tag: "1",
            requestedBy: "UREQUESTER",
            now: decidedAt,
          });
          await store.decide({
            requestId: request.id,
            decision: "approved",
            decidedBy: "UAPPROVER",
            isApprover: true,
            reason: null,
            now: decidedAt,
            expireDays: 90,
          });
          digests.push(request.digest!);
        }
      } finally {
        await store.close();
      }
      const policy: Policy = { ...defaultPolicy(), watch: { ...defaultPolicy().watch, intervalHours: 24 } };
      const counting =
        (replica: string): CheckRunner =>
        async (input) => {
          if (input.knownDigest) rechecked.push({ replica, digest: input.knownDigest });
          return makeReport(input.reference, "pass", { digest: input.knownDigest ?? null });
        };
      const env = { IMAGE_CHECK_DATABASE_URL: url };
      replicas = await Promise.all(
        ["a", "b"].map((name) =>
          startHarness({ fake, env, policy, runner: counting(name), watchTickMs: 20 }),
        ),
      );
      await eventually(
        async () =>
          Number(
            (
              await queryOnce<{ n: string }>(
                url,
                "SELECT count(*) AS n FROM watch_state WHERE last_checked_at IS NOT NULL",
              )
            )[0]?.n,
          ) === APPROVALS,
        "every approval to be re-checked",
      );
      await eventually(() => queueDrained(url), "both replicas to finish the re-checks");
    });
    afterAll(async () => {
      await Promise.all((replicas ?? []).map((r) => r.close()));
      await fake?.close();
    });

    it("re-checks each approved digest exactly once, across both replicas", () => {
      const perDigest = new Map<string, number>();
      for (const r of rechecked) perDigest.set(r.digest, (perDigest.get(r.digest) ?? 0) + 1);
      expect(Object.fromEntries(perDigest)).toEqual(Object.fromEntries(digests.map((d) => [d, 1])));
    });

    it("records one re-check per approval and schedules the next a day later", async () => {
      const recorded = await queryOnce<{ decision_seq: string; due_at: string; last_checked_at: string }>(
        url,
        "SELECT decision_seq, due_at, last_checked_at FROM watch_state ORDER BY decision_seq",
      );
      expect(recorded).toHaveLength(APPROVALS);
      for (const r of recorded)
        expect(Date.parse(r.due_at) - Date.parse(r.last_checked_at)).toBe(24 * 3_600_000);
      // Every recheck job that did the work said so once per approval; any other was a no-op.
      const outcomes = await queryOnce<{ decision: string; n: string }>(
        url,
        `SELECT payload::json->>'decisionId' AS decision, count(*) AS n FROM jobs
         WHERE kind = 'recheck' AND status = 'done' AND result::json->>'outcome' <> 'skipped'
         GROUP BY 1`,
      );
      expect(outcomes.map((o) => o.n)).toEqual(recorded.map(() => "1"));
    });

    it("posts nothing to Slack for re-checks that found nothing new", () => {
      expect(fake.ok("chat.postMessage")).toEqual([]);
    });
  });
});

/** A running `serve` child: its port once ready, and its exit. */
interface ServeChild {
  proc: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `image-check serve` (test/support/slack-serve-child.ts) and wait until it listens. */
async function startServe(env: Record<string, string>): Promise<ServeChild> {
  const proc = spawn(process.execPath, ["--import", "tsx", "test/support/slack-serve-child.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    proc.once("exit", (code, signal) => done({ code, signal })),
  );
  const port = await new Promise<number>((ready, fail) => {
    proc.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on port (\d+)/.exec(stderr);
      if (m) ready(Number(m[1]));
    });
    exited.then(({ code }) => fail(new Error(`serve exited with ${code} before it was ready:\n${stderr}`)));
  });
  return { proc, port, exited };
}
