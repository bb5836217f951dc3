// What a re-check of an unchanged image costs the registry, as serve runs it: one long-lived check
// runner (the real pipeline and registry source), the real recheck job through the real worker and
// queue over the real store, against Debian's docker-registry behind a recording proxy. The
// re-check asks for the tag's manifest with If-None-Match, gets 304 Not Modified, and makes no
// more requests than a normal check of the same image in the same process.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { policySchema } from "../../src/policy/schema.js";
import { openWatchStore } from "../../src/store/watch.js";
import { createCheckRunner } from "../../src/worker/deps.js";
import { openQueue } from "../../src/worker/queue.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { enqueueRound, RECHECK_JOB, recheckJobHandler } from "../../src/worker/watch.js";
import { startWorker } from "../../src/worker/worker.js";
import { freshStore } from "../store/support.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { type RecordedRequest, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";

const DAY = 86_400_000;

describe("a re-check of an unchanged approved image, in a serve process", () => {
  let proxy: RecordingProxy;
  let checkRequests: RecordedRequest[];
  let recheckRequests: RecordedRequest[];
  let outcome: unknown;
  let tagPath: string;
  let digest: string;

  beforeAll(async () => {
    proxy = await startProxy(getTestbed().open.host);
    const host = proxy.host;
    const repo = randomRepo("watch-conditional");
    tagPath = `/v2/${repo}/manifests/1.0.0`;
    const pushed = await pushImage(
      getTestbed().open,
      repo,
      {
        created: new Date(Date.now() - 10 * DAY).toISOString(),
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
    const env = { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" };
    const runner: CheckRunner = await createCheckRunner({
      policy: policySchema.parse({
        registries: { trusted: [`${host}/**`], allowPrivate: [host], allowInsecure: [host] },
        // Unsigned, and without vulnerability data: a pass here, so the policy approves it.
        checks: { severity: { "trust.unsigned": "low", "vuln.no-data": "low" } },
      }),
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: "/",
    });
    const reference = `${host}/${repo}:1.0.0`;
    const signal = new AbortController().signal;

    // The request that was approved, a day ago, in this process.
    const store = freshStore();
    const approvedAt = new Date(Date.now() - DAY - 60_000);
    const report = await runner({ reference }, signal);
    expect(report).toMatchObject({ verdict: "pass", image: { digest } });
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
      approvedAt,
    );
    await store.attachReport(req.id, report, approvedAt);
    await store.autoApprove(req.id, approvedAt, 90);

    // A normal check of the same image by someone else, in the same process.
    proxy.reset();
    await runner({ reference }, signal);
    checkRequests = [...proxy.requests];

    // The watch round.
    const watch = openWatchStore(store.db);
    const now = () => new Date();
    const handler = recheckJobHandler({
      store,
      watch,
      runner,
      policy: { watch: { intervalHours: 24, revokeAt: "critical" } },
      now,
      notifier: null,
    });
    proxy.reset();
    expect(await enqueueRound({ watch, queue: openQueue(store), intervalHours: 24, now })).toBe(1);
    const worker = startWorker({ store, handlers: { [RECHECK_JOB]: handler }, now, concurrency: 1 });
    await worker.idle();
    await worker.stop();
    recheckRequests = [...proxy.requests];
    outcome = store.db.sqlite.prepare("SELECT result FROM jobs WHERE kind = ?").get(RECHECK_JOB);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  it("finds it unchanged", () => {
    expect(JSON.parse((outcome as { result: string }).result)).toMatchObject({ outcome: "unchanged" });
  });

  it("asks for the tag's manifest with If-None-Match and is answered 304 Not Modified", () => {
    const gets = recheckRequests.filter((r) => r.method === "GET" && r.path === tagPath);
    expect(gets).toEqual([expect.objectContaining({ status: 304, ifNoneMatch: `"${digest}"` })]);
  });

  it("costs no more requests than a normal check of the same image", () => {
    process.stdout.write(
      `registry requests: normal check ${checkRequests.length}, re-check of the unchanged image ${recheckRequests.length}\n`,
    );
    expect(recheckRequests.length).toBeLessThanOrEqual(checkRequests.length);
    expect(recheckRequests.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      checkRequests.map((r) => `${r.method} ${r.path}`).sort(),
    );
  });
});
