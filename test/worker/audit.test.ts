// auditEngine over a real store (the real migrations) and an engine given as plain data: which
// decision stands for each container's digest, and who gets a `docker top`.
import { describe, expect, it } from "vitest";
import type { EngineContainer } from "../../src/engine/index.js";
import {
  type AuditEngine,
  type AuditReport,
  auditEngine,
  processRows,
  startAuditSchedule,
} from "../../src/worker/audit.js";
import { checkedRequest, daysAfter, digest, freshStore, T0 } from "../store/support.js";

const REPO = "registry.test/team/app";

function container(id: string, d: string | null, state = "running"): EngineContainer {
  return {
    id,
    name: `c-${id}`,
    image: `${REPO}:1`,
    imageId: `sha256:${id}`,
    state,
    repoDigests: d ? [`${REPO}@${d}`] : [],
  };
}

/** An engine answering from a list; records whose processes were asked. */
function engineOf(list: EngineContainer[]): AuditEngine & { topped: string[] } {
  const topped: string[] = [];
  return {
    topped,
    listContainers: async ({ all }) => list.filter((c) => all || c.state === "running"),
    processes: async (id) => {
      topped.push(id);
      return { titles: ["UID", "PID", "PPID", "CMD"], processes: [["root", "7", "1", `sleep ${id}`]] };
    },
  };
}

describe("auditEngine", () => {
  describe("when every running container's digest has a standing approval", () => {
    it("counts none unapproved and asks no process table", async () => {
      const store = freshStore();
      const req = await checkedRequest(store, { repository: REPO, tag: "1", digest: digest("ok") });
      await store.decide({
        requestId: req.id,
        decision: "approved",
        decidedBy: "U_IT",
        isApprover: true,
        now: T0,
        expireDays: 90,
      });
      const engine = engineOf([container("a", digest("ok")), container("b", digest("never"), "exited")]);
      const report = await auditEngine({
        engine,
        decisions: store,
        engineName: "unix:///e.sock",
        now: daysAfter(1),
      });
      expect(report.unapproved).toBe(0);
      expect(report.containers).toHaveLength(1);
      expect(report.containers[0]!.decision).toEqual({
        status: "approved",
        decidedBy: "U_IT",
        expiresAt: daysAfter(90).toISOString(),
      });
      expect(engine.topped).toEqual([]);
    });
  });

  describe("when the approval has expired", () => {
    it("reads expired and shows what runs", async () => {
      const store = freshStore();
      const req = await checkedRequest(store, { repository: REPO, tag: "1", digest: digest("old") });
      await store.decide({
        requestId: req.id,
        decision: "approved",
        decidedBy: "U_IT",
        isApprover: true,
        now: T0,
        expireDays: 1,
      });
      const report = await auditEngine({
        engine: engineOf([container("a", digest("old"))]),
        decisions: store,
        engineName: "e",
        now: daysAfter(2),
      });
      expect(report.containers[0]).toMatchObject({
        decision: { status: "expired" },
        processes: [{ user: "root", pid: "7", command: "sleep a" }],
      });
      expect(report.unapproved).toBe(1);
    });
  });

  describe("when a stopped container's digest was never decided", () => {
    it("lists it with --all with no processes and does not count it", async () => {
      const engine = engineOf([container("s", digest("x"), "exited")]);
      const report = await auditEngine({ engine, decisions: null, engineName: "e", now: T0, all: true });
      expect(report.containers[0]).toMatchObject({ decision: null, processes: [] });
      expect(report.unapproved).toBe(0);
      expect(engine.topped).toEqual([]);
    });
  });

  describe("when the image carries repo digests in several repositories", () => {
    it("counts an approval under any of them", async () => {
      const store = freshStore();
      const other = "mirror.test/team/app";
      const req = await checkedRequest(store, { repository: other, tag: "1", digest: digest("m") });
      await store.decide({
        requestId: req.id,
        decision: "approved",
        decidedBy: "U_IT",
        isApprover: true,
        now: T0,
        expireDays: 90,
      });
      const c = {
        ...container("a", digest("m")),
        repoDigests: [`${REPO}@${digest("m")}`, `${other}@${digest("m")}`],
      };
      const report = await auditEngine({ engine: engineOf([c]), decisions: store, engineName: "e", now: T0 });
      expect(report.containers[0]!.decision?.status).toBe("approved");
    });
  });
});

describe("processRows", () => {
  it.each([
    [
      ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
      ["1000", "42", "1", "0", "12:00", "?", "00:00:00", "sleep 1"],
      { user: "1000", pid: "42", command: "sleep 1" },
    ],
    [
      ["USER", "PID", "%CPU", "COMMAND"],
      ["app", "9", "0.0", "nginx: master"],
      { user: "app", pid: "9", command: "nginx: master" },
    ],
    [["PID", "ARGS"], ["3", "sh -c x"], { user: "", pid: "3", command: "sh -c x" }],
  ])("when ps gives %j, reads user, pid and command", async (titles, row, expected) => {
    expect(processRows({ titles, processes: [row] })).toEqual([expected]);
  });
});

describe("startAuditSchedule", () => {
  const report = (ids: string[]): AuditReport => ({
    schema: "image-check/audit@1",
    engine: "unix:///e.sock",
    checkedAt: T0.toISOString(),
    containers: ids.map((id) => ({
      id,
      name: id,
      image: "x:1",
      digest: null,
      state: "running",
      decision: null,
    })),
    unapproved: ids.length,
  });

  describe("when the same unapproved containers run at every audit", () => {
    it("posts once, again when the set changes, and never when all are approved", async () => {
      const answers = [report(["a"]), report(["a"]), report(["a", "b"]), report([]), report(["a"])];
      const posted: string[][] = [];
      const schedule = startAuditSchedule({
        run: async () => answers.shift()!,
        post: (r) => {
          posted.push(r.containers.map((c) => c.id));
        },
        intervalMs: 3_600_000,
      });
      const ticks = [];
      for (let i = 0; i < 5; i++) ticks.push(await schedule.tick());
      schedule.stop();
      expect(ticks).toEqual([true, false, true, false, true]);
      expect(posted).toEqual([["a"], ["a", "b"], ["a"]]);
    });
  });

  describe("when the replicas share what was posted last (the store's newest audit job)", () => {
    it("posts a set once across replicas, marks a clean round, and posts the same set again after it", async () => {
      const answers = [report(["a"]), report(["a"]), report([]), report([]), report(["a"])];
      let last: AuditReport | null = null;
      const handed: string[][] = [];
      // Two replicas' schedules, taking turns, both reading the one shared record.
      const replica = () =>
        startAuditSchedule({
          run: async () => answers.shift()!,
          post: (r) => {
            handed.push(r.containers.map((c) => c.id));
            last = r;
          },
          lastPosted: async () => last,
          intervalMs: 3_600_000,
        });
      const [one, two] = [replica(), replica()];
      const ticks = [
        await one.tick(),
        await two.tick(),
        await one.tick(),
        await two.tick(),
        await one.tick(),
      ];
      one.stop();
      two.stop();
      expect(ticks).toEqual([true, false, false, false, true]);
      expect(handed).toEqual([["a"], [], ["a"]]);
    });

    it("posts again when the last post failed for good (it was never seen)", async () => {
      const answers = [report(["a"]), report(["a"])];
      const handed: string[][] = [];
      const schedule = startAuditSchedule({
        run: async () => answers.shift()!,
        post: (r) => void handed.push(r.containers.map((c) => c.id)),
        // What the bot answers when the newest audit job failed: nothing was posted.
        lastPosted: async () => null,
        intervalMs: 3_600_000,
      });
      expect([await schedule.tick(), await schedule.tick()]).toEqual([true, true]);
      schedule.stop();
      expect(handed).toEqual([["a"], ["a"]]);
    });
  });
});
