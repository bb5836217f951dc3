import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JOB } from "../../src/slack/ids.js";
import { openStore } from "../../src/store/service.js";
import { type FakeSlack, startFakeSlack } from "../support/fake-slack.js";
import { buttonsOf } from "../support/slack-harness.js";
import { sendClick, sendCommand } from "../support/slack-requests.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SECRET = "crash-test-secret";

/** `image-check serve` in a child process (the real command), resolved once it listens. */
async function startServe(env: Record<string, string>) {
  const proc: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "test/support/slack-serve-child.ts"],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  const exited = new Promise<NodeJS.Signals | number | null>((done) =>
    proc.once("exit", (code, signal) => done(signal ?? code)),
  );
  const port = await new Promise<number>((ready, fail) => {
    proc.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on port (\d+)/.exec(stderr);
      if (m) ready(Number(m[1]));
    });
    exited.then((code) => fail(new Error(`serve exited with ${code} before it was ready:\n${stderr}`)));
  });
  return { proc, exited, target: { baseUrl: `http://127.0.0.1:${port}`, signingSecret: SECRET } };
}

/** Poll the store until `predicate` holds (a guard against hanging, not a timing assertion). */
async function untilStore<T>(dbPath: string, predicate: (db: ReturnType<typeof openStore>) => T | undefined) {
  for (let i = 0; i < 1000; i++) {
    const store = openStore(dbPath);
    try {
      const value = predicate(store);
      if (value !== undefined) return value;
    } finally {
      await store.close();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the store never got there");
}

describe("image-check serve killed with SIGKILL while Slack takes a decision DM", () => {
  let fake: FakeSlack;
  let dir: string;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    fake = await startFakeSlack();
    dir = mkdtempSync(join(tmpdir(), "image-check-crash-"));
    env = {
      HOME: dir,
      SLACK_BOT_TOKEN: "xoxb-crash",
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
      IMAGE_CHECK_IT_CHANNEL: "C0IT",
      IMAGE_CHECK_APPROVERS: "UAPPROVER",
      IMAGE_CHECK_DB: join(dir, "image-check.db"),
      PORT: "0",
    };
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const dms = () =>
    fake
      .ok("chat.postMessage")
      .filter((c) => c.body.channel === "UREQUESTER" && JSON.stringify(c.body).includes("team/killed"));

  it("sends the DM once: the restarted bot finds it instead of sending it again", async () => {
    const first = await startServe(env);
    children.push(first.proc);
    await sendCommand(first.target, {
      text: "team/killed:1 needed for the build",
      userId: "UREQUESTER",
      responseUrl: fake.responseUrl(),
    });
    const post = await fake.until(
      () =>
        fake
          .ok("chat.postMessage")
          .find((c) => c.body.channel === "C0IT" && JSON.stringify(c.body).includes("team/killed")),
      "the IT message",
    );
    const requestId = buttonsOf(post.body)[0]!.value;

    // The DM reaches Slack, and the bot dies before Slack's answer comes back.
    const held = fake.hold("chat.postMessage");
    await sendClick(first.target, {
      actionId: "image_check.approve",
      value: requestId,
      userId: "UAPPROVER",
      responseUrl: fake.responseUrl(),
    });
    await held.arrived;
    first.proc.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    held.release();
    await fake.until(() => dms().length === 1 || undefined, "the DM, taken by Slack");

    // The dead worker's notify job is still running under its lease; let the lease run out.
    const running = await untilStore(env.IMAGE_CHECK_DB!, (store) => {
      const db = store.db.sqlite;
      const job = db
        .prepare("SELECT id, status, attempts FROM jobs WHERE kind = ? AND idempotency_key = ?")
        .get(JOB.notify, `${JOB.notify}:${requestId}`) as { id: number; status: string; attempts: number };
      expect(job).toMatchObject({ status: "running", attempts: 1 });
      expect(db.prepare("SELECT count(*) AS n FROM slack_dms").get()).toEqual({ n: 0 });
      db.prepare("UPDATE jobs SET lease_expires_at = ? WHERE id = ?").run(
        new Date(Date.now() - 1000).toISOString(),
        job.id,
      );
      return job.id;
    });

    const second = await startServe(env);
    children.push(second.proc);
    try {
      const done = await untilStore(env.IMAGE_CHECK_DB!, (store) => {
        const job = store.db.sqlite
          .prepare("SELECT status, attempts FROM jobs WHERE id = ?")
          .get(running) as {
          status: string;
          attempts: number;
        };
        return job.status === "done" ? job : undefined;
      });
      expect(done.attempts).toBe(2);
      expect(dms()).toHaveLength(1);
      await untilStore(env.IMAGE_CHECK_DB!, (store) => {
        const rows = store.db.sqlite.prepare("SELECT request_id, ts FROM slack_dms").all();
        expect(rows).toEqual([{ request_id: requestId, ts: dms()[0]!.response?.ts }]);
        return true;
      });
    } finally {
      second.proc.kill("SIGINT");
      await second.exited;
    }
  });
});
