import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/service.js";
import { enqueueCheck } from "../../src/worker/check-job.js";
import { openQueue } from "../../src/worker/queue.js";
import { digest, tempDir } from "../store/support.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/check-worker.ts", import.meta.url));
const LEASE_MS = 1000;
const DIGEST = digest("slow-app-1.0");

/** The slow registry: the first request hangs (the worker dies during it), later ones answer. */
function slowServer() {
  const held: ServerResponse[] = [];
  let hits = 0;
  const hitWaiters: (() => void)[] = [];
  const server = createServer((_req, res) => {
    hits++;
    for (const w of hitWaiters.splice(0)) w();
    if (hits === 1) {
      held.push(res);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ digest: DIGEST }));
  });
  return {
    server,
    hits: () => hits,
    nextHit: () => new Promise<void>((resolve) => hitWaiters.push(resolve)),
    close: () => {
      for (const r of held) r.destroy();
      server.close();
    },
  };
}

function startChild(
  dbPath: string,
  url: string,
): { child: ChildProcessWithoutNullStreams; events: { type: string }[]; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, dbPath, url, String(LEASE_MS)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const events: { type: string }[] = [];
  createInterface({ input: child.stdout }).on("line", (line) =>
    events.push(JSON.parse(line) as { type: string }),
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, events, exited };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

describe("a worker killed with SIGKILL in the middle of a check", () => {
  const slow = slowServer();
  const dbPath = join(tempDir(), "crash.db");
  const store = openStore(dbPath);
  const children: ChildProcessWithoutNullStreams[] = [];
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
    slow.close();
    store.close();
  });

  it("loses nothing: on restart the request completes with exactly one report", async () => {
    await new Promise<void>((resolve) => slow.server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(slow.server.address() as AddressInfo).port}/v2/slow/app/manifests/1.0`;
    const req = store.createRequest(
      {
        reference: "127.0.0.1:5000/slow/app:1.0",
        repository: "127.0.0.1:5000/slow/app",
        tag: "1.0",
        requestedBy: "U_DEV",
        source: "slack",
      },
      new Date(),
    );
    const { job } = enqueueCheck(
      store,
      { requestId: req.id, reference: req.reference, policyVersion: "crash-policy" },
      new Date(),
    );

    // First life: the check reaches the slow registry, and the process dies there.
    const first = startChild(dbPath, url);
    children.push(first.child);
    await slow.nextHit();
    first.child.kill("SIGKILL");
    await first.exited;
    expect(store.getRequest(req.id)?.status).toBe("checking");
    expect(openQueue(store.db).get(job.id)).toMatchObject({ status: "running", attempts: 1 });

    // Second life: the dead worker's lease expires, the job runs again and finishes.
    const second = startChild(dbPath, url);
    children.push(second.child);
    await until(() => second.events.some((e) => e.type === "done"));
    second.child.kill("SIGTERM");
    await second.exited;

    expect(store.getRequest(req.id)).toMatchObject({ status: "pending", digest: DIGEST, verdict: "review" });
    expect(store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM reports").get()).toEqual({ n: 1 });
    expect(openQueue(store.db).get(job.id)).toMatchObject({ status: "done", attempts: 2 });
    expect(slow.hits()).toBe(2);
  });
});
