import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { policyVersion } from "../../src/policy/evaluate.js";
import { openStore } from "../../src/store/service.js";
import { enqueueCheck } from "../../src/worker/check-job.js";
import { openQueue } from "../../src/worker/queue.js";
import { tempDir } from "../store/support.js";
import { type PushedImage, pushImage, randomRepo } from "../support/image-builder.js";
import { type ProxyRequest, type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { crashPolicy } from "./fixtures/crash-policy.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/check-worker.ts", import.meta.url));
/** Short, so the second worker takes over the dead one's job within a second. */
const LEASE_MS = 1000;

/**
 * The slow registry: a proxy in front of the testbed's open registry that holds the first GET of
 * `path` (the image config: the check has resolved the manifest and is mid-gather) until released,
 * and tells the test when that request arrived. Later requests pass straight through.
 */
async function slowRegistry(upstream: string, path: () => string) {
  let held = false;
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const proxy = await startProxy(upstream, {
    respond: async (req: ProxyRequest) => {
      if (!held && req.method === "GET" && req.path === path()) {
        held = true;
        arrived();
        await released;
      }
      return undefined;
    },
  });
  return { proxy, reached, release };
}

function startWorkerProcess(dbPath: string, registryHost: string) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", FIXTURE, dbPath, registryHost, String(LEASE_MS)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const events: { type: string; jobId?: number; attempts?: number }[] = [];
  const waiters: (() => void)[] = [];
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    events.push(JSON.parse(line) as { type: string });
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  /** Resolves at the first event of `type`; rejects if the process exits first. */
  const event = async (type: string) => {
    for (;;) {
      const found = events.find((e) => e.type === type);
      if (found) return found;
      const code = await Promise.race([
        new Promise<"event">((resolve) => waiters.push(() => resolve("event"))),
        exited,
      ]);
      if (code !== "event" && !events.some((e) => e.type === type))
        throw new Error(`worker exited (${code}) before "${type}": ${stderr}`);
    }
  };
  return { child, events, exited, event };
}

describe("a worker killed with SIGKILL in the middle of a check against a slow registry", () => {
  const dbPath = join(tempDir(), "crash.db");
  const store = openStore(dbPath);
  const repo = randomRepo("crash");
  let image: PushedImage;
  let slow: Awaited<ReturnType<typeof slowRegistry>>;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    const { open } = getTestbed();
    image = await pushImage(open, repo, { config: { User: "10001" } }, "1.0");
    slow = await slowRegistry(open.host, () => `/v2/${repo}/blobs/${image.configDigest}`);
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    slow?.release();
    await slow?.proxy.stop();
    await store.close();
  });

  it("loses nothing: on restart the request completes with exactly one report", async () => {
    const proxy: RecordingProxy = slow.proxy;
    const reference = `${proxy.host}/${repo}:1.0`;
    const req = await store.createRequest(
      { reference, repository: `${proxy.host}/${repo}`, tag: "1.0", requestedBy: "U_DEV", source: "slack" },
      new Date(),
    );
    const { job } = await enqueueCheck(
      store,
      { requestId: req.id, reference, policyVersion: policyVersion(crashPolicy(proxy.host)) },
      new Date(),
    );

    // First life: the check resolves the manifest, asks for the config, and the process dies there.
    const first = startWorkerProcess(dbPath, proxy.host);
    children.push(first.child);
    await slow.reached;
    expect(await first.event("claimed")).toEqual({ type: "claimed", jobId: job.id, attempts: 1 });
    first.child.kill("SIGKILL");
    expect(await first.exited).toBeNull();
    expect((await store.getRequest(req.id))?.status).toBe("checking");
    expect(await openQueue(store).get(job.id)).toMatchObject({ status: "running", attempts: 1 });
    expect(store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM reports").get()).toEqual({ n: 0 });

    // Second life: the dead worker's lease expires, the job runs again from the start and finishes.
    const second = startWorkerProcess(dbPath, proxy.host);
    children.push(second.child);
    expect(await second.event("done")).toMatchObject({ jobId: job.id, attempts: 2 });
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);

    const done = await store.getRequest(req.id);
    expect(done).toMatchObject({ status: "pending", digest: image.digest });
    const report = await store.getReport(done!.reportId!);
    expect(report?.image).toMatchObject({ digest: image.digest, configDigest: image.configDigest });
    expect(report?.facts.user).toBe("10001");
    expect(store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM reports").get()).toEqual({ n: 1 });
    expect(await openQueue(store).get(job.id)).toMatchObject({ status: "done", attempts: 2 });
    const configGets = proxy.requests.filter((r) => r.path === `/v2/${repo}/blobs/${image.configDigest}`);
    // The held GET is recorded once released (afterAll); the second life's went through.
    expect(configGets).toEqual([expect.objectContaining({ method: "GET", status: 200 })]);
  });
});
