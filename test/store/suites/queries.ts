// The store's listing queries (decisions, pending requests, history, status), paging and the
// request setters, as a suite any engine runs: test/store/queries.test.ts (SQLite) and
// test/store/queries.int.test.ts (PostgreSQL).
import { describe, expect, it } from "vitest";
import { type RequestRecord, StoreError } from "../../../src/store/api.js";
import { checkedRequest, daysAfter, digest, makeReport, minutesAfter, T0 } from "../support.js";
import type { FreshStore } from "./engine.js";

/** The queries suite over the stores `fresh` opens (each call: an empty store). */
export function queriesSuite(fresh: FreshStore): void {
  describe("the store's queries", async () => {
    const { store } = await fresh();

    // Twelve decisions on two repositories, one a minute apart, alternating approve and reject, and
    // three requests still pending.
    const repos = ["docker.io/library/alpha", "ghcr.io/acme/beta"];
    const decided: { requestId: string; repository: string; decision: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const repository = repos[i % 2]!;
      const now = minutesAfter(i);
      const req = await checkedRequest(store, { repository, tag: `1.${i}`, now });
      const decision = i % 4 === 3 ? "rejected" : "approved";
      await store.decide({
        requestId: req.id,
        decision,
        decidedBy: "U_APPROVER",
        isApprover: true,
        now,
        expireDays: i < 4 ? 1 : 90,
      });
      decided.push({ requestId: req.id, repository, decision });
    }
    const pending: RequestRecord[] = [];
    for (const i of [0, 1, 2])
      pending.push(
        await checkedRequest(store, { repository: repos[0], tag: `2.${i}`, now: minutesAfter(20 + i) }),
      );
    const LATER = daysAfter(2);
    const newestFirst = [...decided].reverse();

    describe("listDecisions", () => {
      it("lists every decision newest first", async () => {
        const page = await store.listDecisions({ limit: 100 }, LATER);
        expect(page.items.map((d) => d.requestId)).toEqual(newestFirst.map((d) => d.requestId));
        expect(page.next).toBeNull();
      });

      it("filters by repository", async () => {
        const page = await store.listDecisions({ repository: repos[1], limit: 100 }, LATER);
        expect(page.items.map((d) => d.requestId)).toEqual(
          newestFirst.filter((d) => d.repository === repos[1]).map((d) => d.requestId),
        );
      });

      it("filters by digest", async () => {
        const one = (await store.getRequest(decided[5]!.requestId))!;
        const page = await store.listDecisions({ digest: one.digest! }, LATER);
        expect(page.items.map((d) => d.requestId)).toEqual([one.id]);
      });

      describe.each([
        ["rejected", (i: number) => i % 4 === 3],
        ["approved", (i: number) => i % 4 !== 3 && i >= 4],
        ["expired", (i: number) => i % 4 !== 3 && i < 4],
      ] as const)("when filtered by status %s", (status, expected) => {
        it("returns exactly the decisions of that status", async () => {
          const page = await store.listDecisions({ status, limit: 100 }, LATER);
          const want = decided.filter((_, i) => expected(i)).reverse();
          expect(page.items.map((d) => d.requestId)).toEqual(want.map((d) => d.requestId));
          expect(page.items.every((d) => d.status === status)).toBe(true);
        });
      });

      it("lists pending requests as decision rows with no decision", async () => {
        const page = await store.listDecisions({ status: "pending" }, LATER);
        expect(page.items.map((d) => d.requestId)).toEqual(pending.map((p) => p.id).reverse());
        expect(page.items[0]).toMatchObject({
          id: null,
          decision: null,
          status: "pending",
          decidedBy: null,
          decidedAt: null,
        });
      });

      describe("when paged", () => {
        it("walks every decision once, in order, across pages", async () => {
          const seen: string[] = [];
          let before: string | undefined;
          let pages = 0;
          do {
            const page = await store.listDecisions({ limit: 5, before }, LATER);
            seen.push(...page.items.map((d) => d.requestId));
            before = page.next ?? undefined;
            pages++;
          } while (before);
          expect(pages).toBe(3);
          expect(seen).toEqual(newestFirst.map((d) => d.requestId));
        });

        it("refuses a cursor it did not hand out", async () => {
          await expect(
            async () => await store.listDecisions({ before: "not-a-cursor" }, LATER),
          ).rejects.toThrow(StoreError);
        });
      });
    });

    describe("pendingRequests", () => {
      it("lists pending requests newest first", async () => {
        expect((await store.pendingRequests({})).items.map((r) => r.id)).toEqual(
          pending.map((p) => p.id).reverse(),
        );
      });

      it("pages by cursor", async () => {
        const first = await store.pendingRequests({ limit: 2 });
        const second = await store.pendingRequests({ limit: 2, before: first.next! });
        expect([...first.items, ...second.items].map((r) => r.id)).toEqual(
          pending.map((p) => p.id).reverse(),
        );
        expect(second.next).toBeNull();
      });
    });

    describe("history", () => {
      it("lists a repository's decisions newest first", async () => {
        const items = (await store.history(repos[0]!, { limit: 3 }, LATER)).items;
        expect(items.map((d) => d.requestId)).toEqual(
          newestFirst
            .filter((d) => d.repository === repos[0])
            .slice(0, 3)
            .map((d) => d.requestId),
        );
      });
    });

    describe("statusOf", () => {
      it("answers by digest with the request, the decision and the report", async () => {
        const req = (await store.getRequest(decided[6]!.requestId))!;
        const status = await store.statusOf(req.repository, { digest: req.digest! }, LATER);
        expect(status.request?.id).toBe(req.id);
        expect(status.decision?.requestId).toBe(req.id);
        expect(status.report?.image.digest).toBe(req.digest);
      });

      it("answers by tag for a tag never observed, from the newest request", async () => {
        const req = pending[2]!;
        const status = await store.statusOf(req.repository, { tag: req.tag! }, LATER);
        expect(status.request?.id).toBe(req.id);
        expect(status.decision).toBeNull();
        expect(status.report).not.toBeNull();
      });

      it("answers nothing for an unknown image", async () => {
        expect(await store.statusOf("docker.io/library/unknown", { tag: "1" }, LATER)).toEqual({
          request: null,
          decision: null,
          report: null,
        });
      });
    });

    describe("freshReport", async () => {
      // Its own store, so this request does not show up among the pending ones above.
      const { store } = await fresh();
      const d = digest("fresh");
      const req = await store.createRequest(
        { reference: "x", repository: "docker.io/library/fresh", tag: "1", requestedBy: "U1", source: "cli" },
        T0,
      );
      await store.attachReport(
        req.id,
        makeReport({ repository: "docker.io/library/fresh", digest: d, policyVersion: "p1", checkedAt: T0 }),
        T0,
      );

      it("returns a report checked within the window under the same policy", async () => {
        expect((await store.freshReport(d, "p1", minutesAfter(5), 10 * 60_000))?.image.digest).toBe(d);
      });

      it("ignores a report older than the window", async () => {
        expect(await store.freshReport(d, "p1", minutesAfter(11), 10 * 60_000)).toBeNull();
      });

      it("ignores a report judged under another policy", async () => {
        expect(await store.freshReport(d, "p2", minutesAfter(5), 10 * 60_000)).toBeNull();
      });
    });

    describe("setItMessage and setReason", () => {
      it("remember the IT message and the reason", async () => {
        const req = pending[0]!;
        await store.setItMessage(req.id, "C_IT", "1700000000.000100");
        const out = await store.setReason(req.id, "for the nightly job", T0);
        expect(out.itMessage).toEqual({ channel: "C_IT", ts: "1700000000.000100" });
        expect(out.reason).toBe("for the nightly job");
      });

      it("refuse an unknown request", async () => {
        await expect(async () => await store.setItMessage("req_missing", "C", "1")).rejects.toThrow(
          expect.objectContaining({ code: "NOT_FOUND" }),
        );
      });
    });
  });
}
