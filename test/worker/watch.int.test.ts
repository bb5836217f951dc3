// watch end to end: the real pipeline against the testbed registry (through a counting proxy), the
// real worker and queue over the real store, the Slack posts to the fake Slack Web API. An image
// approved by the policy a day ago is signed afterwards by a key the policy does not know;
// `image-check watch --once` revokes the approval, posts the request again to IT with its buttons,
// replies in that thread and DMs the requester; a second run finds nothing to do and posts nothing.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { openStore } from "../../src/store/service.js";
import { tempDir } from "../store/support.js";
import { runCli } from "../support/cli.js";
import { type FakeSlack, startFakeSlack } from "../support/fake-slack.js";
import { pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { type Proxy as RegistryProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const DAY = 86_400_000;

describe("image-check watch --once, end to end", () => {
  let fake: FakeSlack;
  let proxy: RegistryProxy;
  let cwd: string;
  let env: NodeJS.ProcessEnv;
  let digest: string;
  let requestId: string;
  let checkRequests: number;

  beforeAll(async () => {
    fake = await startFakeSlack();
    proxy = await startProxy(getTestbed().open.host);
    cwd = tempDir();
    const host = proxy.host;
    const repo = randomRepo("watch");
    const now = new Date();
    const pushed = await pushImage(
      getTestbed().open,
      repo,
      {
        created: new Date(now.getTime() - 10 * DAY).toISOString(),
        config: {
          User: "10001:10001",
          Labels: {
            "org.opencontainers.image.source": "https://example.test/app",
            "org.opencontainers.image.revision": "4f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
          },
          Healthcheck: { Test: ["CMD", "/app", "health"], Interval: 30_000_000_000 },
          Entrypoint: ["/app"],
        },
      },
      "1.0.0",
    );
    digest = pushed.digest;
    writeFileSync(
      join(cwd, "policy.yaml"),
      [
        `registries: { trusted: ["${host}/**"], allowPrivate: ["${host}"], allowInsecure: ["${host}"] }`,
        // Unsigned images (and so no signed vulnerability data) are tolerated here; a signature by
        // a key nobody trusts is not.
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

    // Approved by the policy a day ago: the real check passes, and the requester asked in Slack.
    const reference = `${host}/${repo}:1.0.0`;
    proxy.reset();
    const checked = await runCli(["check", reference, "--json", "--no-store"], { cwd, env });
    checkRequests = proxy.requests.length;
    const report = JSON.parse(checked.stdout) as Report;
    expect(report.verdict).toBe("pass");
    const dayAgo = new Date(now.getTime() - DAY - 60_000);
    const store = openStore(env.IMAGE_CHECK_DB!);
    const req = await store.createRequest(
      {
        reference,
        repository: `${host}/${repo}`,
        tag: "1.0.0",
        requestedBy: "U0DEV",
        source: "slack",
        channel: "C0DEV",
        reason: "the release pipeline needs it",
      },
      dayAgo,
    );
    await store.attachReport(req.id, report, dayAgo);
    await store.autoApprove(req.id, dayAgo, 90);
    await store.close();
    requestId = req.id;

    // Since then, someone signed the digest with a key the policy does not know.
    await signCosign(getTestbed().open, repo, digest, makeKey("ecdsa-p256").privateKey);
  });

  /** The reference of the request IT is asked about again. */
  async function pendingReference(): Promise<string> {
    const rows = JSON.parse(
      (await runCli(["decisions", "--status", "pending", "--json"], { cwd, env })).stdout,
    ) as {
      reference: string;
    }[];
    return rows[0]!.reference;
  }

  afterAll(async () => {
    await Promise.allSettled([fake?.close(), proxy?.stop()]);
  });

  describe("when the approved digest got worse", () => {
    let out: { code: number; stdout: string; stderr: string };
    let recheckRequests: number;

    beforeAll(async () => {
      proxy.reset();
      out = await runCli(["watch", "--once"], { cwd, env });
      recheckRequests = proxy.requests.length;
    });

    it("re-checks it once and says it revoked it", async () => {
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(out.stdout).toContain("Re-checked 1 of 1 approval(s) due: 0 unchanged, 0 changed, 1 revoked");
    });

    it("revokes the approval, decided by watch, with what changed as the reason", async () => {
      const { stdout } = await runCli(["decisions", "--status", "revoked", "--json"], { cwd, env });
      const rows = JSON.parse(stdout) as {
        requestId: string;
        status: string;
        decidedBy: string;
        reason: string;
      }[];
      expect(rows).toEqual([
        expect.objectContaining({ requestId, status: "revoked", decidedBy: "watch", digest }),
      ]);
      expect(rows[0]!.reason).toContain("trust.untrusted-signer (high)");
    });

    it("opens the request again for IT, with the Approve and Reject buttons on a new message", async () => {
      const pending = JSON.parse(
        (await runCli(["decisions", "--status", "pending", "--json"], { cwd, env })).stdout,
      ) as { requestId: string; digest: string; requestedBy: string }[];
      expect(pending).toEqual([expect.objectContaining({ digest, requestedBy: "U0DEV" })]);
      const itPosts = fake
        .ok("chat.postMessage")
        .filter((c) => c.body.channel === "C0IT" && !c.body.thread_ts);
      expect(itPosts).toHaveLength(1);
      const actions = JSON.stringify(itPosts[0]!.body.blocks);
      expect(actions).toContain("image_check.approve");
      expect(actions).toContain(`"value":"${pending[0]!.requestId}"`);
    });

    it("replies in that IT thread with what changed, and DMs the requester", async () => {
      const posts = fake.ok("chat.postMessage");
      const itPost = posts.find((c) => c.body.channel === "C0IT" && !c.body.thread_ts)!;
      const thread = posts.filter((c) => c.body.thread_ts);
      expect(thread).toHaveLength(1);
      expect(thread[0]!.body).toMatchObject({
        channel: "C0IT",
        thread_ts: (itPost.response as { ts: string }).ts,
      });
      expect(JSON.stringify(thread[0]!.body.blocks)).toContain("trust.untrusted-signer");
      const dms = posts.filter((c) => c.body.channel === "U0DEV");
      expect(dms).toHaveLength(1);
      expect(JSON.stringify(dms[0]!.body.blocks)).toContain("revoked");
    });

    it("costs the registry requests of one check of the same image", async () => {
      proxy.reset();
      await runCli(["check", await pendingReference(), "--json", "--no-store"], { cwd, env });
      const checkNow = proxy.requests.length;
      process.stdout.write(
        `registry requests: check when approved ${checkRequests}, check now ${checkNow}, re-check ${recheckRequests}\n`,
      );
      expect(recheckRequests).toBe(checkNow);
    });
  });

  describe("when watch runs again on the same state", () => {
    it("re-checks nothing and posts nothing", async () => {
      const before = fake.calls.length;
      const again = await runCli(["watch", "--once"], { cwd, env });
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("Re-checked 0 of 0 approval(s) due");
      expect(fake.calls.length).toBe(before);
    });
  });
});
