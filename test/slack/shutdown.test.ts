import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/service.js";
import { type FakeSlack, startFakeSlack } from "../support/fake-slack.js";
import { sendCommand } from "../support/slack-requests.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SECRET = "shutdown-test-secret";

/** A running `serve` child: its port once ready, its stderr so far, and its exit. */
interface Child {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function startServe(env: Record<string, string>): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", "test/support/slack-serve-child.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | null>((done) => proc.once("exit", (code) => done(code)));
  const port = await new Promise<number>((ready, fail) => {
    proc.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on port (\d+)/.exec(stderr);
      if (m) ready(Number(m[1]));
    });
    exited.then((code) => fail(new Error(`serve exited with ${code} before it was ready:\n${stderr}`)));
  });
  return { proc, port, stderr: () => stderr, exited };
}

describe("image-check serve", () => {
  let fake: FakeSlack;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    fake = await startFakeSlack();
    dir = mkdtempSync(join(tmpdir(), "image-check-serve-"));
    env = {
      HOME: dir,
      SLACK_BOT_TOKEN: "xoxb-serve",
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
      IMAGE_CHECK_IT_CHANNEL: "C0IT",
      IMAGE_CHECK_APPROVERS: "UAPPROVER",
      IMAGE_CHECK_DB: join(dir, "data", "image-check.db"),
      PORT: "0",
    };
  });
  afterAll(async () => {
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("when configuration is missing", () => {
    it("names each missing variable on its own line and exits 64 without starting", async () => {
      const proc = spawn(process.execPath, ["--import", "tsx", "test/support/slack-serve-child.ts"], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: dir, IMAGE_CHECK_DB: join(dir, "never.db") },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      const code = await new Promise((done) => proc.once("exit", done));
      expect(code).toBe(64);
      const lines = stderr.trim().split("\n");
      expect(lines.map((l) => l.replace(/^image-check serve: /, "").split(":")[0])).toEqual([
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "IMAGE_CHECK_IT_CHANNEL",
        "IMAGE_CHECK_APPROVERS",
      ]);
    });
  });

  describe("when it gets SIGTERM with a check running", () => {
    it("stops taking requests, puts the check back in the queue, closes the store, and a restart finishes it", async () => {
      const first = await startServe({ ...env, CHILD_RUNNER: "stall", CHILD_GRACE_MS: "200" });
      const target = { baseUrl: `http://127.0.0.1:${first.port}`, signingSecret: SECRET };
      expect((await fetch(`${target.baseUrl}/healthz`)).status).toBe(200);
      const ack = await sendCommand(target, {
        text: "team/slow:1 needed",
        userId: "UREQUESTER",
        responseUrl: fake.responseUrl(),
      });
      expect(ack.status).toBe(200);

      first.proc.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      expect(first.stderr()).toContain("SIGTERM: stopping");
      await expect(fetch(`${target.baseUrl}/healthz`)).rejects.toThrow();

      // The store was closed cleanly and still holds the request and its check, queued again.
      const store = openStore(env.IMAGE_CHECK_DB!);
      try {
        const request = (await store.statusOf("docker.io/team/slow", { tag: "1" }, new Date())).request!;
        expect(request.status).toBe("checking");
        const jobs = store.db.sqlite.prepare("select kind, status from jobs where kind = 'check'").all();
        expect(jobs).toEqual([{ kind: "check", status: "queued" }]);
      } finally {
        await store.close();
      }

      const second = await startServe(env);
      try {
        const post = await fake.until(
          () =>
            fake
              .ok("chat.postMessage")
              .find((c) => c.body.channel === "C0IT" && JSON.stringify(c.body).includes("team/slow")),
          "the IT message after the restart",
        );
        expect(post).toBeDefined();
      } finally {
        second.proc.kill("SIGINT");
        expect(await second.exited).toBe(0);
      }
    });
  });
});
