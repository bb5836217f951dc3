// The watch messages, the "needs another look" section of Home and the re-check line of status:
// snapshots, and every untrusted string (references, finding titles from registry data) inert.
import { describe, expect, it } from "vitest";
import { renderAuditSummary } from "../../src/slack/render/audit.js";
import { renderHome } from "../../src/slack/render/home.js";
import { renderStatus } from "../../src/slack/render/status.js";
import { renderWatchDm, renderWatchThread, type WatchNotice } from "../../src/slack/render/watch.js";
import { digestOf, HOSTILE, makeDecision, makeReport, makeRequest } from "../support/slack-fixtures.js";
import { assertInert, assertWithinLimits } from "../support/slack-limits.js";

const notice = (over: Partial<WatchNotice> = {}): WatchNotice => ({
  event: "changed",
  reference: "registry.example.com/acme/app:1.4.2",
  digest: digestOf("app"),
  requestedBy: "U0DEV",
  changes: [
    { id: "trust.untrusted-signer", severity: "high", title: "signed, but by no key the policy trusts" },
    { id: "tag.moved", severity: "medium", title: "the tag now names another digest" },
  ],
  expiresAt: "2027-03-01T12:00:00.000Z",
  ...over,
});

const page = <T>(items: T[]) => ({ items, next: null });

describe("the watch messages", () => {
  describe.each(["changed", "revoked", "expiring"] as const)("when the event is %s", (event) => {
    it("renders the IT thread reply and the requester's DM", () => {
      expect(renderWatchThread(notice({ event }))).toMatchSnapshot();
      expect(renderWatchDm(notice({ event }))).toMatchSnapshot();
    });
  });

  describe("when the reference and finding titles are hostile", () => {
    it("keeps every mention, link and code fence inert", () => {
      const evil = notice({
        event: "revoked",
        reference: `evil.example/app:1${HOSTILE}`,
        requestedBy: HOSTILE,
        changes: [{ id: "trust.untrusted-signer", severity: "high", title: HOSTILE }],
      });
      for (const m of [renderWatchThread(evil), renderWatchDm(evil)]) {
        assertInert(m);
        assertWithinLimits(m.blocks, 50);
      }
    });
  });

  describe("when a re-check found many changes", () => {
    it("lists ten and counts the rest", () => {
      const many = Array.from({ length: 14 }, (_, i) => ({ id: `x.${i}`, severity: "high", title: `t${i}` }));
      const text = JSON.stringify(renderWatchThread(notice({ changes: many })).blocks);
      expect(text).toContain("…and 4 more");
    });
  });
});

describe("the scheduled audit's summary", () => {
  it("lists the unapproved running containers with their first processes, escaped", () => {
    const m = renderAuditSummary({
      schema: "image-check/audit@1",
      engine: "unix:///var/run/docker.sock",
      checkedAt: "2026-12-07T10:00:00.000Z",
      containers: [
        {
          id: "c1",
          name: `web${HOSTILE}`,
          image: "nginx:1.27",
          digest: digestOf("nginx"),
          state: "running",
          decision: { status: "expired", decidedBy: "U1", expiresAt: "2026-12-01T00:00:00.000Z" },
          processes: [{ user: "root", pid: "1", command: `nginx ${HOSTILE}` }],
        },
        {
          id: "c2",
          name: "local",
          image: "mine:dev",
          digest: null,
          state: "running",
          decision: null,
          processes: [],
        },
      ],
      unapproved: 2,
    });
    expect(m).toMatchSnapshot();
    assertInert(m);
  });
});

describe("Home with approvals watch flagged", () => {
  it("shows them under needs another look, escaped", () => {
    const decision = makeDecision({ reference: `registry.example.com/acme/app:1${HOSTILE}` });
    const view = renderHome({
      userId: "U1",
      isApprover: true,
      pending: page([]),
      recent: page([]),
      needsAnotherLook: [
        {
          decision,
          changes: [{ id: "trust.untrusted-signer", severity: "high", title: HOSTILE }],
          lastCheckedAt: "2026-12-07T10:00:00.000Z",
        },
      ],
    });
    expect(view).toMatchSnapshot();
    assertInert(view);
    expect(JSON.stringify(view.blocks)).toContain("Needs another look");
  });
});

describe("status with re-checks", () => {
  const answer = {
    request: makeRequest(),
    decision: makeDecision(),
    report: makeReport("registry.example.com/acme/app:1.4.2", "pass"),
  };

  it.each([
    ["never re-checked", { lastCheckedAt: null, changes: null }, "Re-checked* not yet"],
    [
      "re-checked, nothing new",
      { lastCheckedAt: "2026-12-07T10:00:00.000Z", changes: null },
      "nothing new since the approval",
    ],
    [
      "re-checked, something new",
      {
        lastCheckedAt: "2026-12-07T10:00:00.000Z",
        changes: [{ id: "tag.moved", severity: "medium", title: HOSTILE }],
      },
      "needs another look",
    ],
  ])("when %s, says so", (_what, watch, expected) => {
    const m = renderStatus("registry.example.com/acme/app:1.4.2", { ...answer, watch });
    expect(JSON.stringify(m.blocks)).toContain(expected);
    assertInert(m);
  });

  it("says nothing of re-checks when the approval was never scheduled", () => {
    expect(JSON.stringify(renderStatus("x:1", answer).blocks)).not.toContain("Re-checked");
  });
});

describe("a revoked approval in any decision line", () => {
  it("reads revoked by watch with what changed, not approved", () => {
    const revoked = makeDecision({
      status: "revoked",
      decidedBy: "watch",
      reason: `re-check found ${HOSTILE}`,
    });
    const text = JSON.stringify(
      renderStatus("registry.example.com/acme/app:1.4.2", { request: null, decision: revoked, report: null })
        .blocks,
    );
    expect(text).toContain("Approval *revoked* by watch");
    expect(text).not.toContain("*Approved*");
    assertInert(renderStatus("x:1", { request: null, decision: revoked, report: null }));
  });
});
