// Crash safety of watch: `image-check watch --once` is SIGKILLed in the middle of a round (one
// approval's re-check committed and told, the other's held mid-gather by a slow registry). After a
// restart, each digest is re-checked once and each change told once: one revocation, one new
// request for IT, one thread reply and one DM per digest.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { openStore } from "../../src/store/service.js";
import { tempDir } from "../store/support.js";
import { runCli } from "../support/cli.js";
import { eventually } from "../support/eventually.js";
import { type FakeSlack, startFakeSlack } from "../support/fake-slack.js";
import { pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { type ProxyRequest, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const DAY = 86_400_000;

function runWatch(env: NodeJS.ProcessEnv): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string }>;
} {
  // Run from the repository (where tsx resolves); every path in `env` is absolute.
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "watch", "--once"], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on("data", (c: Buffer) => {
    if (process.env.DEBUG_WATCH_CRASH) process.stderr.write(c);
  });
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout })),
  );
  return { child, done };
}

describe("watch --once killed mid-round", () => {
  let fake: FakeSlack;
  let proxy: RecordingProxy;
  let cwd: string;
  let env: NodeJS.ProcessEnv;
  const repos: string[] = [];
  let hold: { armed: boolean; path: string; reached: boolean; release: () => void };

  beforeAll(async () => {
    fake = await startFakeSlack();
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    hold = { armed: false, path: "", reached: false, release };
    proxy = await startProxy(getTestbed().open.host, {
      respond: async (req: ProxyRequest) => {
        if (hold.armed && req.method === "GET" && req.path === hold.path) {
          hold.reached = true;
          await released;
        }
        return undefined;
      },
    });
    cwd = tempDir();
    const host = proxy.host;
    writeFileSync(
      join(cwd, "policy.yaml"),
      [
        `registries: { trusted: ["${host}/**"], allowPrivate: ["${host}"], allowInsecure: ["${host}"] }`,
        "checks: { severity: { trust.unsigned: low, vuln.no-data: low, trust.untrusted-signer: high } }",
        "watch: { revokeAt: high }",
      ].join("\n"),
    );
    env = {
      HOME: cwd,
      DOCKER_CONFIG: join(cwd, ".docker"),
      IMAGE_CHECK_DB: join(cwd, "store.db"),
      IMAGE_CHECK_POLICY: join(cwd, "policy.yaml"),
      SLACK_BOT_TOKEN: "xoxb-test",
      SLACK_SIGNING_SECRET: "test-secret",
      SLACK_API_URL: fake.apiUrl,
      IMAGE_CHECK_IT_CHANNEL: "C0IT",
      IMAGE_CHECK_APPROVERS: "U0IT",
    };
    const dayAgo = new Date(Date.now() - DAY - 60_000);
    for (const name of ["a", "b"]) {
      const repo = randomRepo(`watch-crash-${name}`);
      repos.push(repo);
      const pushed = await pushImage(
        getTestbed().open,
        repo,
        {
          config: {
            User: "10001:10001",
            Labels: {
              "org.opencontainers.image.source": "https://example.test/app",
              "org.opencontainers.image.revision": "4f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
            },
            Healthcheck: { Test: ["CMD", "/app", "health"], Interval: 30_000_000_000 },
          },
        },
        "1.0.0",
      );
      const reference = `${host}/${repo}:1.0.0`;
      const report = JSON.parse(
        (await runCli(["check", reference, "--json", "--no-store"], { cwd, env })).stdout,
      ) as Report;
      expect(report.verdict).toBe("pass");
      const store = openStore(env.IMAGE_CHECK_DB!);
      const req = await store.createRequest(
        {
          reference,
          repository: `${host}/${repo}`,
          tag: "1.0.0",
          requestedBy: "U0DEV",
          source: "slack",
          channel: "C0DEV",
          reason: "needed",
        },
        dayAgo,
      );
      await store.attachReport(req.id, report, dayAgo);
      await store.autoApprove(req.id, dayAgo, 90);
      await store.close();
      await signCosign(getTestbed().open, repo, pushed.digest, makeKey("ecdsa-p256").privateKey);
    }
  });

  afterAll(async () => {
    hold?.release();
    await Promise.allSettled([fake?.close(), proxy?.stop()]);
  });

  it("re-checks each digest once and tells each change once after a restart", async () => {
    // Hold b's re-check in the middle of its gather; let a's finish and be told.
    hold.path = `/v2/${repos[1]}/manifests/1.0.0`;
    hold.armed = true;
    const first = runWatch(env);
    const store = openStore(env.IMAGE_CHECK_DB!, { readonly: true });
    try {
      await eventually(() => hold.reached, "b's re-check to reach the registry", 60_000);
      await eventually(
        async () => {
          const revoked = (await store.listDecisions({ status: "revoked" }, new Date())).items.length === 1;
          const slackDone = store.db.sqlite
            .prepare("SELECT count(*) AS n FROM jobs WHERE kind LIKE 'slack.%' AND status = 'done'")
            .get() as { n: number };
          return revoked && slackDone.n >= 3;
        },
        "a's revocation to be posted",
        60_000,
      );
    } finally {
      await store.close();
    }
    first.child.kill("SIGKILL");
    await first.done;
    hold.armed = false;
    hold.release();

    const second = runWatch(env);
    const { code, stdout } = await second.done;
    expect(code).toBe(0);
    expect(stdout).toContain("1 revoked");

    const after = openStore(env.IMAGE_CHECK_DB!, { readonly: true });
    try {
      const now = new Date();
      expect((await after.listDecisions({ status: "revoked" }, now)).items).toHaveLength(2);
      expect((await after.listDecisions({ status: "pending" }, now)).items).toHaveLength(2);
      const revocations = after.db.sqlite
        .prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'decision.revoked'")
        .get() as { n: number };
      expect(revocations.n).toBe(2);
    } finally {
      after.close();
    }
    const posts = fake.ok("chat.postMessage");
    expect(posts.filter((c) => c.body.channel === "C0IT" && !c.body.thread_ts)).toHaveLength(2);
    expect(posts.filter((c) => c.body.thread_ts)).toHaveLength(2);
    expect(posts.filter((c) => c.body.channel === "U0DEV")).toHaveLength(2);

    const third = await runWatch(env).done;
    expect(third.stdout).toContain("Re-checked 0 of 0");
    expect(fake.ok("chat.postMessage")).toHaveLength(posts.length);
  }, 180_000);
});
