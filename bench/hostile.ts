/**
 * Hostile-registry benchmark (`npm run bench -- hostile`): what a registry built to hold image-check
 * busy costs, measured on loopback with the recording proxy in front of the testbed's open registry.
 * Never asserts a time: the figures are for reading (issue 8, items 3 and 11).
 *
 * 1. One check of an image whose 32 referrers each answer 503 with `Retry-After: 29` while
 *    dripping the error body (64 bytes every 100 ms): the check's wall time and requests.
 * 2. The same in the worker, as `serve` runs it (2 check slots, the worker's default job timeout):
 *    two such checks enqueued, then a normal one; how long the normal one waits for a slot and
 *    until it is done, and whether the hostile ones are retried.
 * 3. `inspect --tags` against a registry paging 300,000 tags per page, endlessly: peak RSS of the
 *    CLI process (GNU time's %M) and the number of tags printed.
 *
 * Runnable alone: `npx tsx bench/run.ts hostile` (starts and stops its own testbed).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { loadConfig } from "../src/config.js";
import { policySchema } from "../src/policy/schema.js";
import { openStore } from "../src/store/index.js";
import { createCheckRunner } from "../src/worker/deps.js";
import { openQueue } from "../src/worker/queue.js";
import type { WorkerEvent } from "../src/worker/types.js";
import { startWorker, WORKER_DEFAULTS } from "../src/worker/worker.js";
import { pushImage, randomRepo } from "../test/support/image-builder.js";
import { type ProxyRequest, type ProxyResponse, slowBody, startProxy } from "../test/support/proxy.js";
import type { Testbed } from "../test/support/testbed.js";

const run = promisify(execFile);

/** The attack of issue 8, item 3. */
const REFERRERS = 32;
const RETRY_AFTER_SECONDS = 29;
/** Tags per page of the endless tag list (issue 8, item 11). */
const TAGS_PER_PAGE = 300_000;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function fakeDigest(i: number): string {
  return `sha256:${createHash("sha256").update(`hostile-referrer-${i}`).digest("hex")}`;
}

/** The proxy's answer for the hostile repository: a referrers list, and 503s that drip. */
function hostileAnswer(repo: string) {
  return (req: ProxyRequest): ProxyResponse | undefined => {
    if (!req.path.startsWith(`/v2/${repo}/`)) return undefined;
    if (req.path.includes("/referrers/"))
      return {
        status: 200,
        headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
        body: JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: Array.from({ length: REFERRERS }, (_, i) => ({
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest: fakeDigest(i),
            size: 1000,
            artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
          })),
        }),
      };
    const digest = req.path.slice(req.path.lastIndexOf("/") + 1);
    if (req.path.includes("/manifests/sha256:") && digest.startsWith("sha256:"))
      for (let i = 0; i < REFERRERS; i++)
        if (fakeDigest(i) === digest)
          return {
            status: 503,
            headers: { "retry-after": String(RETRY_AFTER_SECONDS), "content-type": "application/json" },
            body: slowBody(4096, { chunk: 64, everyMs: 100 }),
          };
    return undefined;
  };
}

/** Run the hostile-registry benchmark against a started testbed. */
export async function benchHostile(testbed: Testbed): Promise<string> {
  const out: string[] = [];
  const hostileRepo = randomRepo("hostile");
  const normalRepo = randomRepo("normal");
  await pushImage(testbed.open, hostileRepo, { config: { User: "app" } }, "1");
  await pushImage(testbed.open, normalRepo, { config: { User: "app" } }, "1");
  const proxy = await startProxy(testbed.open.host, { respond: hostileAnswer(hostileRepo) });
  const dir = mkdtempSync(join(tmpdir(), "image-check-bench-hostile-"));
  const env = { HOME: dir, DOCKER_CONFIG: dir };
  const policy = policySchema.parse({
    registries: { allowPrivate: [proxy.host], allowInsecure: [proxy.host] },
  });
  out.push(
    `policy: default (limits.checkSeconds ${(policy as { limits?: { checkSeconds?: number } }).limits?.checkSeconds ?? "n/a"})`,
  );
  try {
    const runner = await createCheckRunner({
      policy,
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: dir,
    });

    // 1. One check.
    proxy.reset();
    const started = performance.now();
    const report = await runner(
      { reference: `${proxy.host}/${hostileRepo}:1`, lastAttempt: true },
      new AbortController().signal,
    );
    const incomplete = report.findings.find((f) => f.id === "check.incomplete");
    out.push(
      `one check, ${REFERRERS} referrers answering 503 + Retry-After ${RETRY_AFTER_SECONDS} with a dripping body: ` +
        `${seconds(performance.now() - started)}, verdict ${report.verdict}, ${proxy.requests.length} requests, ` +
        `check.incomplete: ${incomplete ? oneLine(incomplete.detail) : "none"}`,
    );

    // 2. The worker: two hostile checks, then a normal one.
    const store = openStore(join(dir, "store.db"));
    const queue = openQueue(store);
    const events: { at: number; event: WorkerEvent }[] = [];
    let normalDone: () => void = () => {};
    const done = new Promise<void>((r) => {
      normalDone = r;
    });
    let normalId = -1;
    const worker = startWorker({
      store,
      concurrency: 2,
      jobTimeoutMs: WORKER_DEFAULTS.jobTimeoutMs,
      handlers: {
        check: async (payload, ctx) => {
          const { reference } = payload as { reference: string };
          return runner({ reference, lastAttempt: ctx.attempt >= ctx.maxAttempts }, ctx.signal);
        },
      },
      onEvent: (event) => {
        events.push({ at: performance.now(), event });
        if ((event.type === "done" || event.type === "failed") && event.job.id === normalId) normalDone();
      },
    });
    const t0 = performance.now();
    for (const n of [1, 2])
      await queue.enqueue(
        { kind: "check", payload: { reference: `${proxy.host}/${hostileRepo}:1`, n } },
        new Date(),
      );
    await new Promise((r) => setTimeout(r, 200));
    const enqueuedAt = performance.now();
    normalId = (
      await queue.enqueue(
        { kind: "check", payload: { reference: `${proxy.host}/${normalRepo}:1` } },
        new Date(),
      )
    ).job.id;
    await done;
    const claimed = events.find((e) => e.event.type === "claimed" && e.event.job.id === normalId);
    const finished = events.find((e) => e.event.type === "done" && e.event.job.id === normalId);
    const hostile = events.filter((e) => "job" in e.event && e.event.job.id !== normalId);
    const retries = hostile.filter((e) => e.event.type === "retry").map((e) => e.event);
    const ends = hostile.filter((e) => e.event.type === "done" || e.event.type === "failed");
    out.push(
      `worker, 2 slots, 2 hostile checks then a normal one: the normal one waited ${seconds(
        (claimed?.at ?? enqueuedAt) - enqueuedAt,
      )} for a slot, done after ${seconds((finished?.at ?? enqueuedAt) - enqueuedAt)}; ` +
        `hostile jobs by then: ${ends.length} ended (after ${ends.map((e) => seconds(e.at - t0)).join(", ") || "-"}), ` +
        `${retries.length} retried${retries.length ? ` (${retries.map((r) => ("error" in r ? (r.error as { code?: string }).code : "")).join(", ")})` : ""}`,
    );
    await worker.stop({ graceMs: 0 });
    await store.close();

    // 3. inspect --tags against endless pages of 300,000 tags.
    out.push(await tagListing(testbed, dir, normalRepo));
  } finally {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out.join("\n");
}

/** Peak RSS of `inspect --tags --json` in its own process against a registry paging 300k tags a page. */
async function tagListing(testbed: Testbed, dir: string, repo: string): Promise<string> {
  let page = 0;
  const tags = await startProxy(testbed.open.host, {
    respond: (req) => {
      if (!req.path.endsWith("/tags/list")) return undefined;
      page++;
      const list = Array.from({ length: TAGS_PER_PAGE }, (_, i) => `${page}.${i}`);
      return {
        status: 200,
        headers: {
          "content-type": "application/json",
          link: `<${req.path}?n=1000&last=${page}.${TAGS_PER_PAGE - 1}>; rel="next"`,
        },
        body: JSON.stringify({ name: repo, tags: list }),
      };
    },
  });
  try {
    const policyFile = join(dir, "tags-policy.yaml");
    writeFileSync(
      policyFile,
      `registries:\n  allowPrivate: ["${tags.host}"]\n  allowInsecure: ["${tags.host}"]\n`,
    );
    const main = resolve(import.meta.dirname, "../src/cli/main.ts");
    const tsx = resolve(import.meta.dirname, "../node_modules/.bin/tsx");
    const { stdout, stderr } = await run(
      "/usr/bin/time",
      [
        "-f",
        "maxrss_kb=%M",
        tsx,
        main,
        "inspect",
        `${tags.host}/${repo}:1`,
        "--tags",
        "--json",
        "--policy",
        policyFile,
      ],
      { env: { ...process.env, HOME: dir, DOCKER_CONFIG: dir }, maxBuffer: 1024 * 1024 * 1024 },
    );
    const rss = Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1] ?? 0);
    const info = (JSON.parse(stdout) as { registryInfo?: { tags?: string[]; tagsTruncated?: boolean } })
      .registryInfo;
    return (
      `inspect --tags, ${TAGS_PER_PAGE.toLocaleString("en")} tags per page, endless pages: ` +
      `peak RSS ${(rss / 1024).toFixed(0)} MB, ${info?.tags?.length ?? 0} tags printed in ${page} page(s), ` +
      `truncated flag: ${info?.tagsTruncated === true ? "yes" : "no"}`
    );
  } finally {
    await tags.stop();
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}
