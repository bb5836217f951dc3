import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RequestRecord } from "../../src/store/api.js";
import { openStore } from "../../src/store/service.js";
import { checkedRequest, tempDir } from "./support.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/decide.ts", import.meta.url));
const ROUNDS = 8;

interface Decider {
  child: ChildProcessWithoutNullStreams;
  lines: Interface;
  next(): Promise<string>;
}

function startDecider(dbPath: string, decidedBy: string, decision: string): Decider {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, dbPath, decidedBy, decision], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  lines.on("line", (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  return {
    child,
    lines,
    next: () => {
      const line = queue.shift();
      return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

describe("two processes deciding the same request at once", () => {
  const dbPath = join(tempDir(), "race.db");
  const store = openStore(dbPath);
  const requests: RequestRecord[] = [];
  beforeAll(async () => {
    for (let i = 0; i < ROUNDS; i++)
      requests.push(await checkedRequest(store, { repository: `docker.io/library/race${i}` }));
  });
  const a = startDecider(dbPath, "U_APPROVER_A", "approved");
  const b = startDecider(dbPath, "U_APPROVER_B", "rejected");
  afterAll(async () => {
    a.child.kill();
    b.child.kill();
    await store.close();
  });

  it("store exactly one decision and refuse the other with ALREADY_DECIDED, every round", async () => {
    for (const d of [a, b]) {
      expect(await d.next()).toBe("started");
      d.child.stdin.write("open\n");
      expect(await d.next()).toBe("ready");
    }
    for (const req of requests) {
      // The barrier: both processes get the request id in the same tick of this process.
      a.child.stdin.write(`${req.id}\n`);
      b.child.stdin.write(`${req.id}\n`);
      const outcomes = [JSON.parse(await a.next()), JSON.parse(await b.next())] as {
        ok: boolean;
        code?: string;
      }[];
      expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
      expect(outcomes.filter((o) => !o.ok).map((o) => o.code)).toEqual(["ALREADY_DECIDED"]);
      const rows = store.db.sqlite
        .prepare("SELECT COUNT(*) AS n FROM decisions WHERE request_id = ?")
        .get(req.id);
      expect(rows).toEqual({ n: 1 });
      const audit = (await store.audit(req.id)).filter((e) => e.action.startsWith("decision."));
      expect(audit).toHaveLength(1);
    }
    a.child.stdin.end();
    b.child.stdin.end();
  });
});

describe("processes opening a new store at the same moment", () => {
  it("all succeed: one migrates, the others find the schema up to date", async () => {
    const dbPath = join(tempDir(), "fresh.db");
    const children = Array.from({ length: 3 }, () => startDecider(dbPath, "U_X", "approved"));
    const exits = children.map(
      (d) => new Promise<number | null>((resolve) => d.child.once("exit", (code) => resolve(code))),
    );
    // Wait until all three are up, then let them open the store in the same tick.
    expect(await Promise.all(children.map((d) => d.next()))).toEqual(["started", "started", "started"]);
    for (const d of children) d.child.stdin.write("open\n");
    const opened = await Promise.all(children.map((d) => d.next()));
    for (const d of children) d.child.stdin.end();
    expect(opened).toEqual(["ready", "ready", "ready"]);
    expect(await Promise.all(exits)).toEqual([0, 0, 0]);
  });
});
