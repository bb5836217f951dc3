import { afterEach, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { CodedError } from "../../src/errors.js";
import { parseReference } from "../../src/reference/parse.js";
import type { RequestRecord } from "../../src/store/api.js";
import type { SqliteStore } from "../../src/store/service.js";
import { CHECK_JOB, type CheckJobDeps, checkJobHandler, enqueueCheck } from "../../src/worker/check-job.js";
import type { CheckRunner, JobContext, JobHandlerSpec, Worker } from "../../src/worker/types.js";
import { startWorker } from "../../src/worker/worker.js";
import { digest, freshStore, makeReport } from "../store/support.js";

const POLICY = "policy-1";
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});

/** A runner that answers from a table of verdicts and counts its calls. */
function fakeRunner(verdict: Report["verdict"] = "review") {
  const calls: string[] = [];
  const runner: CheckRunner = async ({ reference }) => {
    calls.push(reference);
    const [name, tag] = reference.split(":");
    return makeReport({
      repository: `docker.io/library/${name}`,
      tag,
      digest: digest(reference),
      verdict,
      policyVersion: POLICY,
      checkedAt: new Date(),
    });
  };
  return { runner, calls };
}

function deps(store: SqliteStore, runner: CheckRunner, extra: Partial<CheckJobDeps> = {}): CheckJobDeps {
  return {
    store,
    runner,
    policyVersion: POLICY,
    autoApprovePass: true,
    expireDays: 90,
    now: () => new Date(),
    ...extra,
  };
}

function run(store: SqliteStore, handler: JobHandlerSpec): Worker {
  const w = startWorker({
    store,
    handlers: { [CHECK_JOB]: handler },
    pollMs: 3_600_000,
    backoff: { baseMs: 5, maxMs: 10 },
  });
  workers.push(w);
  return w;
}

async function request(store: SqliteStore, reference: string, requestedBy = "U_DEV"): Promise<RequestRecord> {
  const [name, tagOrDigest] = reference.split(/[:@]/);
  return await store.createRequest(
    {
      reference,
      repository: `docker.io/library/${name}`,
      tag: reference.includes("@") ? null : (tagOrDigest ?? null),
      requestedBy,
      source: "slack",
    },
    new Date(),
  );
}

async function settled(w: Worker, store: SqliteStore, ids: string[]): Promise<RequestRecord[]> {
  for (;;) {
    const reqs = await Promise.all(ids.map(async (id) => (await store.getRequest(id))!));
    if (reqs.every((r) => r.status !== "checking")) return reqs;
    await w.idle();
  }
}

describe("the check job", () => {
  describe("when the check finds something to review", () => {
    const store = freshStore();
    const { runner } = fakeRunner("review");

    it("stores the report on the request and leaves it pending for IT", async () => {
      const req = await request(store, "python:3.12");
      const w = run(store, checkJobHandler(deps(store, runner)));
      await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      const [done] = await settled(w, store, [req.id]);
      expect(done).toMatchObject({ status: "pending", verdict: "review", digest: digest("python:3.12") });
      expect((await store.getReport(done!.reportId!))?.verdict).toBe("review");
    });

    it("remembers what the tag resolved to (for tag.moved)", async () => {
      expect(await store.lastKnownDigest("docker.io/library/python", "3.12")).toBe(digest("python:3.12"));
    });
  });

  describe("when the reference pins a digest under a tag that has moved on", () => {
    const OLD = digest("app-1.0-old");
    const NEW = digest("app-1.0-new");
    /** A runner that checks `app:1.0@OLD` while `1.0` points at `tagDigest` (unknown when undefined). */
    const pinnedRunner =
      (tagDigest: string | undefined): CheckRunner =>
      async ({ reference }) => {
        const report = makeReport({ repository: "docker.io/library/app", tag: "1.0", digest: OLD });
        return { ...report, reference, image: { ...report.image, ...(tagDigest ? { tagDigest } : {}) } };
      };

    it("remembers what the tag resolves to now, not the pinned digest", async () => {
      const store = freshStore();
      const req = await request(store, `app:1.0@${OLD}`);
      const w = run(store, checkJobHandler(deps(store, pinnedRunner(NEW))));
      await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      const [done] = await settled(w, store, [req.id]);
      expect(done?.digest).toBe(OLD);
      expect(await store.lastKnownDigest("docker.io/library/app", "1.0")).toBe(NEW);
    });

    it("remembers nothing when the tag could not be looked up", async () => {
      const store = freshStore();
      const req = await request(store, `app:1.0@${OLD}`);
      const w = run(store, checkJobHandler(deps(store, pinnedRunner(undefined))));
      await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      await settled(w, store, [req.id]);
      expect(await store.lastKnownDigest("docker.io/library/app", "1.0")).toBeNull();
    });
  });

  describe("when the check passes and the policy approves passes", () => {
    it("approves the request as the policy", async () => {
      const store = freshStore();
      const req = await request(store, "alpine:3.20");
      const w = run(store, checkJobHandler(deps(store, fakeRunner("pass").runner)));
      await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      const [done] = await settled(w, store, [req.id]);
      expect(done?.status).toBe("approved");
      expect(
        (await store.currentDecision("docker.io/library/alpine", done!.digest!, new Date()))?.decidedBy,
      ).toBe("policy");
    });
  });

  describe("when the digest already has a decision in force", () => {
    /** Check `reference` for `requestedBy` and wait until it settled. */
    async function check(store: SqliteStore, w: Worker, reference: string, requestedBy: string) {
      const req = await request(store, reference, requestedBy);
      await enqueueCheck(store, { requestId: req.id, reference, policyVersion: POLICY }, new Date());
      return (await settled(w, store, [req.id]))[0]!;
    }
    /** IT decides `requestId` now. */
    const decide = async (store: SqliteStore, requestId: string, decision: "approved" | "rejected") =>
      await store.decide({
        requestId,
        decision,
        decidedBy: "U_IT",
        isApprover: true,
        now: new Date(),
        expireDays: 90,
      });
    const decisionCount = (store: SqliteStore) =>
      (store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM decisions").get() as { n: number }).n;

    it("settles a new request on an unexpired approval, without a new decision or a longer expiry", async () => {
      const store = freshStore();
      const w = run(store, checkJobHandler(deps(store, fakeRunner("review").runner)));
      const first = await check(store, w, "nginx:1.27", "U_A");
      const approval = await decide(store, first.id, "approved");
      const second = await check(store, w, "nginx:1.27", "U_B");
      await w.idle();
      expect(await store.getRequest(second.id, new Date())).toMatchObject({
        status: "approved",
        decisionId: approval.id,
      });
      expect(decisionCount(store)).toBe(1);
      expect((await store.pendingRequests({})).items).toEqual([]);
    });

    it("settles a passing request on a person's rejection instead of approving it by policy", async () => {
      const store = freshStore();
      const verdicts = { current: "review" as Report["verdict"] };
      const runner: CheckRunner = (input, signal) => fakeRunner(verdicts.current).runner(input, signal);
      const w = run(store, checkJobHandler(deps(store, runner, { autoApprovePass: true })));
      const first = await check(store, w, "busybox:1", "U_A");
      const rejection = await decide(store, first.id, "rejected");
      verdicts.current = "pass";
      const second = await check(store, w, "busybox:1", "U_B");
      await w.idle();
      expect(await store.getRequest(second.id, new Date())).toMatchObject({
        status: "rejected",
        verdict: "pass",
        decisionId: rejection.id,
      });
      expect(decisionCount(store)).toBe(1);
    });
    it("does not settle on a policy approval from elsewhere: the policy in force judges each request", async () => {
      const store = freshStore();
      const verdicts = { current: "pass" as Report["verdict"] };
      const runner: CheckRunner = (input, signal) => fakeRunner(verdicts.current).runner(input, signal);
      const w = run(store, checkJobHandler(deps(store, runner, { autoApprovePass: true })));
      const first = await check(store, w, "redis:7.4", "U_A");
      expect(first.status).toBe("approved");
      // The same digest now needs review under the policy in force: the earlier policy approval
      // must not wave it through...
      verdicts.current = "review";
      const second = await check(store, w, "redis:7.4", "U_B");
      await w.idle();
      expect((await store.getRequest(second.id, new Date()))?.status).toBe("pending");
      // ...and a pass is approved by the policy in force itself, not left pending.
      verdicts.current = "pass";
      const third = await check(store, w, "redis:7.4", "U_C");
      await w.idle();
      expect((await store.getRequest(third.id, new Date()))?.status).toBe("approved");
    });
  });

  describe("when a person decided the digest under another name", () => {
    const D = digest("plain-1.0");
    const REGISTRY = "127.0.0.1:5000";
    /** A runner as the real one answers: the reference as asked, every name resolving to D. */
    const sameDigest =
      (verdict: Report["verdict"]): CheckRunner =>
      async ({ reference }) => {
        const ref = parseReference(reference);
        return {
          ...makeReport({
            repository: `${ref.registry}/${ref.repository}`,
            tag: ref.tag ?? "latest",
            digest: D,
            verdict,
            policyVersion: POLICY,
            checkedAt: new Date(),
          }),
          reference,
        };
      };
    /** Ask for `reference` as `requestedBy`, check it, and wait until it settled. */
    async function ask(store: SqliteStore, w: Worker, reference: string, requestedBy: string) {
      const ref = parseReference(reference);
      const req = await store.createRequest(
        {
          reference,
          repository: `${ref.registry}/${ref.repository}`,
          tag: ref.tag ?? null,
          requestedBy,
          source: "slack",
        },
        new Date(),
      );
      await enqueueCheck(store, { requestId: req.id, reference, policyVersion: POLICY }, new Date());
      await settled(w, store, [req.id]);
      await w.idle();
      return (await store.getRequest(req.id, new Date()))!;
    }
    const decideAs = async (
      store: SqliteStore,
      approver: string,
      requestId: string,
      decision: "approved" | "rejected",
    ) =>
      await store.decide({
        requestId,
        decision,
        decidedBy: approver,
        isApprover: true,
        reason: decision === "rejected" ? "ships a cryptominer" : null,
        now: new Date(),
        expireDays: 90,
      });

    const otherNames: [string, string][] = [
      ["a shortened IPv4 host", "127.1:5000/test/plain:1.0"],
      ["a decimal IPv4 host", "2130706433:5000/test/plain:1.0"],
      ["a hex IPv4 host", "0x7f.1:5000/test/plain:1.0"],
      ["an IPv4-mapped IPv6 host", "[::ffff:127.0.0.1]:5000/test/plain:1.0"],
      ["another repository holding the same manifest", `${REGISTRY}/test/plaincopy:9.9`],
    ];
    for (const [name, reference] of otherNames) {
      it(`settles a passing request on the rejection, never approving it by policy: ${name}`, async () => {
        const store = freshStore();
        const verdicts = { current: "review" as Report["verdict"] };
        const runner: CheckRunner = (input, signal) => sameDigest(verdicts.current)(input, signal);
        const w = run(store, checkJobHandler(deps(store, runner, { autoApprovePass: true })));
        const first = await ask(store, w, `${REGISTRY}/test/plain`, "U_A");
        const rejection = await decideAs(store, "U_IT", first.id, "rejected");
        verdicts.current = "pass";
        const again = await ask(store, w, reference, "U_B");
        expect(again).toMatchObject({ status: "rejected", verdict: "pass", decisionId: rejection.id });
        expect((await store.listDecisions({ digest: D }, new Date())).items).toHaveLength(1);
      });
    }

    it("settles a request that needs review on the rejection instead of sending it to IT", async () => {
      const store = freshStore();
      const w = run(store, checkJobHandler(deps(store, sameDigest("review"))));
      const first = await ask(store, w, `${REGISTRY}/test/plain`, "U_A");
      const rejection = await decideAs(store, "U_IT", first.id, "rejected");
      const again = await ask(store, w, "0x7f.1:5000/test/plain:1.0", "U_B");
      expect(again).toMatchObject({ status: "rejected", decisionId: rejection.id });
      expect((await store.pendingRequests({})).items).toEqual([]);
    });

    it("files every spelling under one repository, so status and history find it by any", async () => {
      const store = freshStore();
      const w = run(store, checkJobHandler(deps(store, sameDigest("review"))));
      const first = await ask(store, w, "127.1:5000/test/plain:1.0", "U_A");
      await decideAs(store, "U_IT", first.id, "rejected");
      expect(first.repository).toBe(`${REGISTRY}/test/plain`);
      for (const spelling of ["127.0.0.1:5000", "2130706433:5000", "[::ffff:7f00:1]:5000"]) {
        expect((await store.history(`${spelling}/test/plain`, {}, new Date())).items).toHaveLength(1);
        expect(await store.statusOf(`${spelling}/test/plain`, { tag: "1.0" }, new Date())).toMatchObject({
          request: { id: first.id },
          decision: { decision: "rejected" },
        });
      }
    });
  });

  describe("when the requester made the decision that stands for the digest (two-person rule)", () => {
    it("sends their own request to IT instead of settling it on their decision", async () => {
      const store = freshStore();
      const w = run(store, checkJobHandler(deps(store, fakeRunner("review").runner)));
      const req = async (reference: string, by: string) => {
        const r = await request(store, reference, by);
        await enqueueCheck(store, { requestId: r.id, reference, policyVersion: POLICY }, new Date());
        return r;
      };
      const first = await req("nginx:1.27", "U_USER");
      await settled(w, store, [first.id]);
      const approval = await store.decide({
        requestId: first.id,
        decision: "approved",
        decidedBy: "U_APPROVER",
        isApprover: true,
        now: new Date(),
        expireDays: 90,
      });
      const own = await req("nginx:1.27", "U_APPROVER");
      await settled(w, store, [own.id]);
      await w.idle();
      expect(await store.getRequest(own.id, new Date())).toMatchObject({
        status: "pending",
        decisionId: null,
      });
      expect((await store.pendingRequests({})).items.map((r) => r.id)).toEqual([own.id]);
      // Someone else's request is still settled on that approval...
      const other = await req("nginx:1.27", "U_OTHER");
      await settled(w, store, [other.id]);
      await w.idle();
      expect(await store.getRequest(other.id, new Date())).toMatchObject({
        status: "approved",
        decisionId: approval.id,
      });
      // ...and nobody decides their own request: another approver must.
      await expect(
        async () =>
          await store.decide({
            requestId: own.id,
            decision: "approved",
            decidedBy: "U_APPROVER",
            isApprover: true,
            now: new Date(),
            expireDays: 90,
          }),
      ).rejects.toThrow(expect.objectContaining({ code: "SELF_DECISION" }));
    });
  });

  describe("when identical requests arrive while one check is queued", async () => {
    const store = freshStore();
    const { runner, calls } = fakeRunner("review");
    const a = await request(store, "redis:7", "U_A");
    const b = await request(store, "redis:7", "U_B");
    const first = await enqueueCheck(
      store,
      { requestId: a.id, reference: "redis:7", policyVersion: POLICY },
      new Date(),
    );
    const second = await enqueueCheck(
      store,
      { requestId: b.id, reference: "redis:7", policyVersion: POLICY },
      new Date(),
    );

    it("shares one job", async () => {
      expect(second.created).toBe(false);
      expect(second.job.id).toBe(first.job.id);
    });

    it("runs the check once and gives both requests the same report", async () => {
      const w = run(store, checkJobHandler(deps(store, runner)));
      const [ra, rb] = await settled(w, store, [a.id, b.id]);
      expect(calls).toEqual(["redis:7"]);
      expect(ra?.reportId).toBe(rb?.reportId);
      expect(store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM reports").get()).toEqual({ n: 1 });
    });

    it("starts a new job for the same reference once the first finished", async () => {
      const c = await request(store, "redis:7", "U_C");
      const third = await enqueueCheck(
        store,
        { requestId: c.id, reference: "redis:7", policyVersion: POLICY },
        new Date(),
      );
      expect(third.created).toBe(true);
    });
  });

  describe("when identical requests spell the same image differently", () => {
    const d = digest("nginx-pinned");
    /** Enqueue a check of `reference` (a new request each time); the job it ran on. */
    const enqueue = async (
      store: SqliteStore,
      reference: string,
      extra: { platform?: string; source?: string } = {},
    ) =>
      (
        await enqueueCheck(
          store,
          { requestId: (await request(store, reference)).id, reference, policyVersion: POLICY, ...extra },
          new Date(),
        )
      ).job.id;

    const same: [string, string[]][] = [
      [
        "a bare name and its full name, with and without latest",
        [
          "nginx",
          "docker.io/library/nginx",
          "docker.io/library/nginx:latest",
          "index.docker.io/library/nginx:latest",
        ],
      ],
      ["a tag, short and full", ["nginx:1.27", "docker.io/library/nginx:1.27"]],
      ["a digest, short and full", [`nginx@${d}`, `docker.io/library/nginx@${d}`]],
    ];
    for (const [name, references] of same) {
      it(`shares one job: ${name}`, async () => {
        const store = freshStore();
        const jobs: unknown[] = [];
        for (const r of references) jobs.push(await enqueue(store, r));
        expect(new Set(jobs).size).toBe(1);
      });
    }

    it("keeps different images, platforms, sources and policies apart", async () => {
      const store = freshStore();
      const jobs = [
        await enqueue(store, "nginx"),
        await enqueue(store, "nginx:1.27"),
        await enqueue(store, `nginx@${d}`),
        await enqueue(store, `nginx:1.27@${d}`),
        await enqueue(store, "ghcr.io/library/nginx"),
        await enqueue(store, "nginx", { platform: "linux/arm64" }),
        await enqueue(store, "nginx", { source: "engine" }),
        (
          await enqueueCheck(
            store,
            { requestId: (await request(store, "nginx")).id, reference: "nginx", policyVersion: "policy-2" },
            new Date(),
          )
        ).job.id,
      ];
      expect(new Set(jobs).size).toBe(jobs.length);
    });
  });

  describe("when a digest-pinned reference has a fresh report", () => {
    const d = digest("node-pinned");
    /** A request for `reference` (any registry) and its report as the check of that reference made it. */
    async function checked(store: SqliteStore, reference: string) {
      const ref = parseReference(reference);
      const repository = `${ref.registry}/${ref.repository}`;
      const req = await store.createRequest(
        { reference, repository, tag: null, requestedBy: "U_DEV", source: "slack" },
        new Date(),
      );
      const base = makeReport({ repository, digest: d, policyVersion: POLICY, checkedAt: new Date() });
      const pinned = `${repository}@${d}`;
      const report: Report = {
        ...base,
        reference,
        image: {
          registry: ref.registry,
          repository: ref.repository,
          digest: d,
          platform: "linux/amd64",
          pinned,
        },
        findings: [
          {
            id: "tag.not-pinned",
            category: "tag",
            severity: "info",
            title: "pinned",
            detail: `use ${pinned}`,
            evidence: { reference, pinned },
          },
        ],
        run: { dockerRun: `docker run --read-only ${pinned}`, compose: `image: ${pinned}`, notes: [] },
      };
      return { req, report };
    }
    /** Ask for `reference` with report reuse on; the request once checked, and what the runner was asked. */
    async function reuse(store: SqliteStore, reference: string) {
      const { runner, calls } = fakeRunner("review");
      const { req } = await checked(store, reference);
      const w = run(store, checkJobHandler(deps(store, runner, { reuseReportMinutes: 10 })));
      const { job } = await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      const [done] = await settled(w, store, [req.id]);
      while ((await w.queue.get(job.id))?.status !== "done") await w.idle();
      return { done: done!, calls, result: (await w.queue.get(job.id))?.result };
    }

    it("reuses it instead of running the check", async () => {
      const store = freshStore();
      const earlier = await checked(store, `node@${d}`);
      await store.attachReport(earlier.req.id, earlier.report, new Date());
      const { done, calls, result } = await reuse(store, `node@${d}`);
      expect(calls).toEqual([]);
      expect(done.reportId).toBe((await store.getRequest(earlier.req.id))?.reportId);
      expect(result).toMatchObject({ reused: true });
    });

    it("shows the request its own reference and pinned reference, not the earlier request's spelling", async () => {
      const store = freshStore();
      const earlier = await checked(store, `127.0.0.1:5000/team/node@${d}`);
      await store.attachReport(earlier.req.id, earlier.report, new Date());
      const { done, calls } = await reuse(store, `0x7f.1:5000/team/node@${d}`);
      expect(calls).toEqual([]);
      const mine = (await store.getReport(done.reportId!))!;
      const pinned = `0x7f.1:5000/team/node@${d}`;
      expect(mine.reference).toBe(`0x7f.1:5000/team/node@${d}`);
      expect(mine.image).toMatchObject({ registry: "0x7f.1:5000", repository: "team/node", pinned });
      expect(mine.findings[0]).toMatchObject({
        detail: `use ${pinned}`,
        evidence: { reference: pinned, pinned },
      });
      expect(mine.run).toMatchObject({
        dockerRun: `docker run --read-only ${pinned}`,
        compose: `image: ${pinned}`,
      });
      expect(JSON.stringify(mine)).not.toContain("127.0.0.1");
      // The earlier request keeps its own.
      expect((await store.getReport((await store.getRequest(earlier.req.id))!.reportId!))?.reference).toBe(
        `127.0.0.1:5000/team/node@${d}`,
      );
    });

    it("does not reuse a report made for another repository holding the same digest", async () => {
      const store = freshStore();
      const earlier = await checked(store, `docker.io/library/node@${d}`);
      await store.attachReport(earlier.req.id, earlier.report, new Date());
      const { calls, result } = await reuse(store, `docker.io/someone/node@${d}`);
      expect(calls).toEqual([`docker.io/someone/node@${d}`]);
      expect(result).toMatchObject({ reused: false });
    });
  });

  describe("when identical requests spelled differently share one check", () => {
    it("gives each request the report under its own reference", async () => {
      const store = freshStore();
      const runner: CheckRunner = async ({ reference }) => ({
        ...makeReport({ repository: "docker.io/library/nginx", tag: "1.27", digest: digest("nginx-1.27") }),
        reference,
      });
      const a = await request(store, "nginx:1.27", "U_A");
      const b = await store.createRequest(
        {
          reference: "index.docker.io/library/nginx:1.27",
          repository: "docker.io/library/nginx",
          tag: "1.27",
          requestedBy: "U_B",
          source: "slack",
        },
        new Date(),
      );
      for (const r of [a, b])
        await enqueueCheck(
          store,
          { requestId: r.id, reference: r.reference, policyVersion: POLICY },
          new Date(),
        );
      const w = run(store, checkJobHandler(deps(store, runner)));
      const done = await settled(w, store, [a.id, b.id]);
      const references: (string | undefined)[] = [];
      for (const r of done) references.push((await store.getReport(r.reportId!))?.reference);
      expect(references).toEqual(["nginx:1.27", "index.docker.io/library/nginx:1.27"]);
    });
  });

  describe("when the check fails for good", () => {
    it("fails every waiting request with the error code and tells afterFailed", async () => {
      const store = freshStore();
      const told: { ids: string[]; code: string }[] = [];
      const runner: CheckRunner = async () => {
        throw new CodedError("NAME_UNKNOWN", "repository not found");
      };
      const a = await request(store, "ghost:1", "U_A");
      const b = await request(store, "ghost:1", "U_B");
      await enqueueCheck(store, { requestId: a.id, reference: "ghost:1", policyVersion: POLICY }, new Date());
      await enqueueCheck(store, { requestId: b.id, reference: "ghost:1", policyVersion: POLICY }, new Date());
      const handler = checkJobHandler(
        deps(store, runner, {
          afterFailed: (reqs, error) => void told.push({ ids: reqs.map((r) => r.id), code: error.code }),
        }),
      );
      const w = run(store, handler);
      const done = await settled(w, store, [a.id, b.id]);
      expect(done.map((r) => [r.status, r.error?.code])).toEqual([
        ["failed", "NAME_UNKNOWN"],
        ["failed", "NAME_UNKNOWN"],
      ]);
      while (told.length === 0) await w.idle();
      expect(told).toEqual([{ ids: [a.id, b.id], code: "NAME_UNKNOWN" }]);
    });
  });

  describe("when the job runs again after its results were stored", () => {
    it("neither runs the check nor writes a second report", async () => {
      const store = freshStore();
      const { runner, calls } = fakeRunner("review");
      const afterCheck: string[][] = [];
      const handler = checkJobHandler(
        deps(store, runner, { afterCheck: (o) => void afterCheck.push(o.requests.map((r) => r.status)) }),
      );
      const run = typeof handler === "function" ? handler : handler.run;
      const req = await request(store, "postgres:17");
      const { job } = await enqueueCheck(
        store,
        { requestId: req.id, reference: req.reference, policyVersion: POLICY },
        new Date(),
      );
      const ctx = (attempt: number): JobContext => ({
        signal: new AbortController().signal,
        attempt,
        maxAttempts: 5,
        job,
      });
      await run(job.payload, ctx(1));
      // As if the worker died before marking the job done, and the job came back.
      await run(job.payload, ctx(2));
      expect(calls).toEqual(["postgres:17"]);
      expect(store.db.sqlite.prepare("SELECT COUNT(*) AS n FROM reports").get()).toEqual({ n: 1 });
      expect(afterCheck).toEqual([["pending"], ["pending"]]);
    });
  });
});
