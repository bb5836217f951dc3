// The recheck job through the real worker and queue over a real store: what a re-check records,
// whom it tells, when it revokes, and that the same state twice changes nothing.
import { describe, expect, it } from "vitest";
import type { CheckContext } from "../../src/checks/types.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { openWatchStore } from "../../src/store/watch.js";
import type { VulnItem } from "../../src/vuln/types.js";
import { openQueue } from "../../src/worker/queue.js";
import type { CheckRunner } from "../../src/worker/types.js";
import {
  enqueueRound,
  RECHECK_JOB,
  recheckJobHandler,
  roundBudget,
  startWatchScheduler,
  type WatchEvent,
} from "../../src/worker/watch.js";
import { startWorker } from "../../src/worker/worker.js";
import { freshStore } from "../store/support.js";
import { cleanContext, cleanFacts, DIGEST, NOW, reportFor } from "../support/facts.js";

const DAY = 86_400_000;

/** A store with the clean image approved by policy `approvedDaysAgo` days before NOW. */
async function setup(
  opts: { approvedDaysAgo?: number; expireDays?: number; revokeAt?: "critical" | "medium" } = {},
) {
  const store = freshStore();
  const approvedAt = new Date(NOW.getTime() - (opts.approvedDaysAgo ?? 2) * DAY);
  const req = await store.createRequest(
    {
      reference: "registry.example.com/acme/app:1.4.2",
      repository: "registry.example.com/acme/app",
      tag: "1.4.2",
      requestedBy: "U_DEV",
      source: "slack",
      channel: "C_DEV",
      reason: "the build needs it",
    },
    approvedAt,
  );
  await store.attachReport(req.id, reportFor(), approvedAt);
  const decision = await store.autoApprove(req.id, approvedAt, opts.expireDays ?? 90);
  const watch = openWatchStore(store.db);
  const queue = openQueue(store);
  /** What the image looks like in the registry now. */
  let image: (f: ImageFacts, ctx: CheckContext) => void = () => {};
  const runs: string[] = [];
  const runner: CheckRunner = async (input) => {
    runs.push(input.reference);
    const facts = cleanFacts();
    const ctx: CheckContext = { ...cleanContext(), approval: input.approval ?? null };
    image(facts, ctx);
    return reportFor(facts, ctx);
  };
  const events: WatchEvent[] = [];
  const policy = { watch: { intervalHours: 24, revokeAt: opts.revokeAt ?? ("critical" as const) } };
  let clock = NOW;
  const now = () => clock;
  const handler = recheckJobHandler({
    store,
    watch,
    runner,
    policy,
    now,
    notifier: {
      notify: async (e) => {
        events.push(e);
      },
    },
  });
  async function round(): Promise<number> {
    const due = await enqueueRound({ watch, queue, intervalHours: 24, now });
    const worker = startWorker({ store, handlers: { [RECHECK_JOB]: handler }, now, concurrency: 2 });
    await worker.idle();
    await worker.stop();
    return due;
  }
  return {
    store,
    watch,
    decision,
    events,
    runs,
    round,
    setImage: (fn: typeof image) => {
      image = fn;
    },
    setNow: (at: Date) => {
      clock = at;
    },
  };
}

describe("the recheck job", () => {
  describe("when the approved image is unchanged", () => {
    it("re-checks it by its tag (still the approved digest), records it and tells nobody", async () => {
      const t = await setup();
      expect(await t.round()).toBe(1);
      expect(t.runs).toEqual(["registry.example.com/acme/app:1.4.2"]);
      expect(t.events).toEqual([]);
      expect(await t.watch.get(t.decision.id)).toMatchObject({
        lastCheckedAt: NOW.toISOString(),
        changes: null,
        dueAt: new Date(NOW.getTime() + DAY).toISOString(),
      });
      expect(await t.round()).toBe(0);
    });
  });

  describe("when the tag moved to another digest", () => {
    it("re-checks the approved digest under name:tag@digest, and tag.moved is what changed", async () => {
      const t = await setup();
      const moved = `sha256:${"9f".repeat(32)}`;
      t.setImage((f, ctx) => {
        if (f.reference.tag && !t.runs.at(-1)?.includes("@")) {
          f.digest = moved;
          f.reference = { ...f.reference, digest: undefined };
        } else ctx.tagDigest = moved;
      });
      await t.round();
      expect(t.runs).toEqual([
        "registry.example.com/acme/app:1.4.2",
        `registry.example.com/acme/app:1.4.2@${DIGEST}`,
      ]);
      expect(t.events.map((e) => ["changes" in e ? e.changes.map((c) => c.id) : [], e.kind])).toEqual([
        [["tag.moved"], "changed"],
      ]);
    });
  });

  describe("when the image got worse below watch.revokeAt", () => {
    it("keeps the approval, tells once what changed, and the same state again posts nothing", async () => {
      const t = await setup();
      t.setImage((f) => {
        f.config.user = "";
      });
      await t.round();
      expect(t.events.map((e) => [e.kind, "changes" in e ? e.changes.map((c) => c.id) : []])).toEqual([
        ["changed", ["config.root-user"]],
      ]);
      expect((await t.store.getDecision(t.decision.id, NOW))?.status).toBe("approved");
      expect((await t.watch.flagged(10)).map((f) => f.decisionId)).toEqual([t.decision.id]);
      // A day later, the same state: re-checked, nothing new to tell.
      t.setNow(new Date(NOW.getTime() + DAY + 60_000));
      expect(await t.round()).toBe(1);
      expect(t.runs).toHaveLength(2);
      expect(t.events).toHaveLength(1);
      expect((await t.watch.get(t.decision.id))?.lastCheckedAt).toBe(
        new Date(NOW.getTime() + DAY + 60_000).toISOString(),
      );
    });
  });

  describe("when vulnerabilities are published for the approved digest, below watch.revokeAt", () => {
    it("tells each newly published one, also inside a finding already told, and the same set again tells nothing", async () => {
      const t = await setup();
      const high = (id: string): VulnItem => ({
        id,
        aliases: [],
        package: "openssl",
        installed: "3.1.4-r0",
        fixed: "3.1.4-r5",
        severity: "high",
        cvss: null,
        status: "affected",
      });
      const published = (ids: string[]) =>
        t.setImage((_f, ctx) => {
          const items = ids.map(high);
          const counts = { critical: 0, high: items.length, medium: 0, low: 0, unknown: 0 };
          ctx.vulnerabilities = { report: { sources: [], counts, items }, trusted: true, problems: [] };
        });
      const told = () =>
        t.events.map((e) => ("changes" in e ? e.changes.map((c) => [c.id, c.vulnerabilities]) : []));
      published(["CVE-2026-1"]);
      await t.round();
      expect(told()).toEqual([[["vuln.high", ["CVE-2026-1"]]]]);
      // A day later a second high CVE is published: same finding, same severity, told all the same.
      published(["CVE-2026-1", "CVE-2026-2"]);
      t.setNow(new Date(NOW.getTime() + DAY + 60_000));
      await t.round();
      expect(told()).toEqual([
        [["vuln.high", ["CVE-2026-1"]]],
        [["vuln.high", ["CVE-2026-1", "CVE-2026-2"]]],
      ]);
      // And a day after that, nothing new: nothing told.
      t.setNow(new Date(NOW.getTime() + 2 * DAY + 120_000));
      expect(await t.round()).toBe(1);
      expect(t.events).toHaveLength(2);
      expect((await t.store.getDecision(t.decision.id, NOW))?.status).toBe("approved");
    });
  });

  describe("when the image got worse at or above watch.revokeAt", () => {
    it("revokes the approval, opens a new request for IT with the re-check's report, and is then done", async () => {
      const t = await setup();
      t.setImage((_f, ctx) => {
        ctx.trust.signatures[0]!.status = "invalid";
      });
      await t.round();
      const d = (await t.store.getDecision(t.decision.id, NOW))!;
      expect(d).toMatchObject({ status: "revoked", decidedBy: "watch" });
      expect(t.events.map((e) => e.kind)).toEqual(["revoked"]);
      const reopened = (t.events[0] as Extract<WatchEvent, { kind: "revoked" }>).reopened;
      expect(reopened).toMatchObject({
        status: "pending",
        digest: DIGEST,
        requestedBy: "U_DEV",
        verdict: "block",
      });
      expect((await t.store.getReport(reopened.reportId!))?.findings.map((f) => f.id)).toContain(
        "watch.changed",
      );
      expect(await t.round()).toBe(0);
      expect(t.events).toHaveLength(1);
    });
  });

  describe("when the approval expires within a week", () => {
    it("announces it once", async () => {
      const t = await setup({ approvedDaysAgo: 86, expireDays: 90 });
      await t.round();
      expect(t.events.map((e) => e.kind)).toEqual(["expiring"]);
      expect((await t.watch.get(t.decision.id))?.expiryAnnouncedAt).toBe(NOW.toISOString());
    });
  });

  describe("when the same job runs again after it recorded (a crash before the job was marked done)", () => {
    it("finds the row moved on and does nothing", async () => {
      const t = await setup({ revokeAt: "medium" });
      t.setImage((f) => {
        f.config.user = "";
      });
      const due = await t.watch.schedule(NOW, { intervalHours: 24, limit: 10 });
      const handler = recheckJobHandler({
        store: t.store,
        watch: t.watch,
        runner: async (input) => {
          const facts = cleanFacts();
          facts.config.user = "";
          return reportFor(facts, { ...cleanContext(), approval: input.approval ?? null });
        },
        policy: { watch: { intervalHours: 24, revokeAt: "medium" } },
        now: () => NOW,
        notifier: {
          notify: async (e) => {
            t.events.push(e);
          },
        },
      });
      const run = typeof handler === "function" ? handler : handler.run;
      const ctx = { signal: new AbortController().signal, attempt: 1, maxAttempts: 3 } as Parameters<
        typeof run
      >[1];
      expect(await run(due[0], ctx)).toMatchObject({ outcome: "revoked" });
      expect(await run(due[0], ctx)).toEqual({ outcome: "skipped", reason: "already re-checked" });
      expect(t.events.map((e) => e.kind)).toEqual(["revoked"]);
      expect((await t.store.listDecisions({ status: "pending" }, NOW)).items).toHaveLength(1);
    });
  });
});

describe("roundBudget", () => {
  it.each([
    [0, 60_000, 24, 1],
    [10_000, 60_000, 24, 7],
    [100, 60_000, 24, 1],
    [10_000, 60_000, 1, 167],
  ])(
    "spreads %i approvals over the interval (tick %i ms, %i h): %i per tick",
    async (n, tick, hours, expected) => {
      expect(roundBudget(n, tick, hours)).toBe(expected);
    },
  );
});

describe("startWatchScheduler", () => {
  describe("when many approvals are due at once (watch newly turned on)", () => {
    it("enqueues one tick's share of the interval per pass, never the whole backlog", async () => {
      const store = freshStore();
      const old = new Date(NOW.getTime() - 10 * DAY);
      for (let i = 0; i < 30; i++) {
        const req = await store.createRequest(
          {
            reference: `r.example/a/b${i}:1`,
            repository: `r.example/a/b${i}`,
            tag: "1",
            requestedBy: "U1",
            source: "slack",
          },
          old,
        );
        await store.attachReport(
          req.id,
          {
            ...reportFor(),
            image: { ...reportFor().image, digest: `sha256:${String(i).padStart(64, "0")}` },
          },
          old,
        );
        await store.autoApprove(req.id, old, 90);
      }
      const watch = openWatchStore(store.db);
      const queue = openQueue(store);
      // A 1-hour interval at a 6-minute tick: 10 passes per interval, 3 re-checks per pass. The
      // first pass sees nothing enrolled yet (budget 1); with no worker running, no pass ever has
      // more than its budget queued.
      const scheduler = startWatchScheduler({
        watch,
        queue,
        intervalHours: 1,
        now: () => NOW,
        tickMs: 360_000,
      });
      expect([await scheduler.pass(), await scheduler.pass(), await scheduler.pass()]).toEqual([1, 2, 0]);
      scheduler.stop();
      expect((await queue.counts()).queued).toBe(3);
    });
  });

  describe("when watch is off (intervalHours 0)", () => {
    it("schedules nothing", async () => {
      const store = freshStore();
      const scheduler = startWatchScheduler({
        watch: openWatchStore(store.db),
        queue: openQueue(store),
        intervalHours: 0,
        now: () => NOW,
      });
      expect(await scheduler.pass()).toBe(0);
      scheduler.stop();
    });
  });
});
