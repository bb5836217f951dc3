import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineRunner } from "../../src/cli/serve.js";
import { loadConfig } from "../../src/config.js";
import { policySchema } from "../../src/policy/schema.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { HOSTILE } from "../support/slack-fixtures.js";
import { buttonsOf, command, type Harness, requestToIt, startHarness } from "../support/slack-harness.js";
import { assertInert } from "../support/slack-limits.js";
import { sendClick, sendSubmission } from "../support/slack-requests.js";
import { getTestbed } from "../support/testbed.js";

/** A loopback port nothing listens on: a registry that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("the Slack app with the registry pipeline behind it", () => {
  const testbed = getTestbed();
  let h: Harness;
  let down: string;
  beforeAll(async () => {
    down = `127.0.0.1:${await closedPort()}`;
    const hosts = [testbed.open.host, down];
    const policy = policySchema.parse({ registries: { allowPrivate: hosts, allowInsecure: hosts } });
    const env = { HOME: testbed.tmpDir, DOCKER_CONFIG: testbed.tmpDir };
    const runnerFor = await pipelineRunner({
      policy,
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: testbed.tmpDir,
    });
    h = await startHarness({ runnerFor, policy });
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("when a pushed image needs review", () => {
    it("checks it, routes it to IT with its digest, and binds the approval to that digest", async () => {
      const repo = randomRepo("slack");
      const pushed = await pushImage(
        testbed.open,
        repo,
        {
          config: {
            User: "",
            Labels: { "org.opencontainers.image.description": HOSTILE, maintainer: HOSTILE },
          },
        },
        "1.0",
      );
      const reference = `${testbed.open.host}/${repo}:1.0`;
      const { requestId, post } = await requestToIt(h, reference);
      expect(JSON.stringify(post.body)).toContain(pushed.digest);
      assertInert(post.body);

      const report = await h.fake.until(
        () =>
          h.fake.responses.find(
            (r) => JSON.stringify(r.body).includes(repo) && r.body.replace_original === true,
          ),
        "the report",
      );
      assertInert(report.body);
      const json = JSON.stringify(report.body);
      expect(json).toContain("&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|docs&gt;");
      expect(json).toContain("config.root-user");
      expect(json).toContain(`${testbed.open.host}/${repo}:1.0@${pushed.digest}`);

      await sendClick(h.target, {
        actionId: "image_check.approve",
        value: requestId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      const decision = await h.bot.store.currentDecision(
        `${testbed.open.host}/${repo}`,
        pushed.digest,
        new Date(),
      );
      expect(decision).toMatchObject({ decision: "approved", decidedBy: "UAPPROVER", digest: pushed.digest });
      await h.fake.until(
        () => h.fake.ok("chat.update").find((c) => JSON.stringify(c.body).includes(requestId)),
        "the IT update",
      );
    });
  });

  describe("when the check fails on the registry", () => {
    it.each([
      ["a repository that does not exist", () => `${testbed.open.host}/${randomRepo("missing")}:1`],
      ["a registry that is down", () => `${down}/team/app:1`],
    ])("shows the reason for %s and offers nothing to approve", async (_what, referenceOf) => {
      const reference = referenceOf();
      const answer = await (await command(h, `${reference} needed`)).answer();
      const json = JSON.stringify(answer.body);
      expect(json).toContain("could not be checked");
      expect(json).toContain("check.incomplete");
      expect(buttonsOf(answer.body)).toEqual([]);
      assertInert(answer.body);
      const [name, tag] = reference.split(/:(?=[^:]*$)/) as [string, string];
      const request = (await h.bot.store.statusOf(name, { tag }, new Date())).request!;
      expect(request.status).toBe("failed");
      expect(request.verdict).not.toBe("pass");
      await h.bot.idle();
      expect(
        h.fake.ok("chat.postMessage").filter((c) => JSON.stringify(c.body).includes(reference)),
      ).toHaveLength(0);
    });
  });

  describe("when IT rejected a pushed image and its manifest is asked for under another name", () => {
    it("settles each request on the rejection: another host spelling, another repository", async () => {
      const repo = randomRepo("slack-rejected");
      const spec = { config: { User: "" }, created: "2026-01-01T00:00:00Z" };
      const pushed = await pushImage(testbed.open, repo, spec, "1.0");
      const copy = await pushImage(testbed.open, `${repo}copy`, spec, "9.9");
      expect(copy.digest).toBe(pushed.digest);

      const { requestId } = await requestToIt(h, `${testbed.open.host}/${repo}:1.0`);
      await sendClick(h.target, {
        actionId: "image_check.reject",
        value: requestId,
        userId: "UAPPROVER",
        responseUrl: h.fake.responseUrl(),
      });
      await sendSubmission(h.target, {
        callbackId: "image_check.reject_reason",
        privateMetadata: requestId,
        userId: "UAPPROVER",
        values: { reason: { reason: "ships a cryptominer" } },
      });
      await h.bot.idle();

      const port = testbed.open.host.split(":")[1];
      for (const reference of [
        `127.1:${port}/${repo}:1.0`,
        `0x7f.1:${port}/${repo}:1.0`,
        `${testbed.open.host}/${repo}copy:9.9`,
      ]) {
        const answer = await (await command(h, `${reference} I need it`, "UOTHER")).answer();
        const json = JSON.stringify(answer.body);
        expect(json).toContain(pushed.digest);
        expect(json).toContain("already rejected");
        expect(json).toContain("ships a cryptominer");
        await h.bot.idle();
        expect(
          h.fake
            .ok("chat.postMessage")
            .filter((c) => c.body.channel === "C0IT" && JSON.stringify(c.body).includes(reference)),
        ).toHaveLength(0);
      }
    });
  });
});
