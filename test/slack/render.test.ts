import { describe, expect, it } from "vitest";
import { clip, code, codeBlock, escapeSlack } from "../../src/slack/escape.js";
import type { Block, Message } from "../../src/slack/render/blocks.js";
import { blocksWithin, LIMITS, linesWithin, section } from "../../src/slack/render/blocks.js";
import { renderHelp } from "../../src/slack/render/help.js";
import { renderHistory } from "../../src/slack/render/history.js";
import { renderHome } from "../../src/slack/render/home.js";
import { renderReasonModal, renderRejectModal } from "../../src/slack/render/modals.js";
import { renderPending } from "../../src/slack/render/pending.js";
import { refusalText } from "../../src/slack/render/refusal.js";
import {
  renderCheckFailed,
  renderChecking,
  renderInFlightLimit,
  renderReport,
} from "../../src/slack/render/report.js";
import { renderDecisionDm, renderItDecided, renderItRequest } from "../../src/slack/render/request.js";
import { renderStatus } from "../../src/slack/render/status.js";
import type { Page } from "../../src/store/api.js";
import { cleanFacts, reportFor } from "../support/facts.js";
import { failedReport, HOSTILE, makeDecision, makeReport, makeRequest } from "../support/slack-fixtures.js";
import { assertInert, assertWithinLimits } from "../support/slack-limits.js";

const page = <T>(items: T[], next: string | null = null): Page<T> => ({ items, next });

describe("escapeSlack", () => {
  it.each([
    ["<!channel>", "&lt;!channel&gt;"],
    ["<@U123>", "&lt;@U123&gt;"],
    ["<!subteam^S1>", "&lt;!subteam^S1&gt;"],
    ["<https://evil.example|docs>", "&lt;https://evil.example|docs&gt;"],
    ["a & b", "a &amp; b"],
    ["&lt; already", "&amp;lt; already"],
    ["plain *bold* _it_", "plain *bold* _it_"],
  ])("turns %j into %j", (input, output) => {
    expect(escapeSlack(input)).toBe(output);
  });
});

describe("code", () => {
  it("keeps backticks from closing the span", () => {
    expect(code("a`b```c")).toBe("`a\u02cbb\u02cb\u02cb\u02cbc`");
  });
  it("folds newlines so the span stays on one line", () => {
    expect(code("RUN a\n  && b")).toBe("`RUN a &amp;&amp; b`");
  });
  it("escapes control sequences inside the span", () => {
    expect(code("<!here>")).toBe("`&lt;!here&gt;`");
  });
});

describe("codeBlock", () => {
  it("cannot be closed early by the text", () => {
    const out = codeBlock("x```<!channel>```y");
    expect(out.startsWith("```")).toBe(true);
    expect(out.slice(3, -3)).not.toContain("`");
  });
});

describe("clip", () => {
  it("leaves short text alone", () => {
    expect(clip("abc", 3)).toBe("abc");
  });
  it("never cuts inside an entity", () => {
    expect(clip("aaaa&amp;bbbb", 7)).toBe("aaaa…");
  });
  it("ends with an ellipsis within the limit", () => {
    const out = clip("x".repeat(5000), 3000);
    expect(out).toHaveLength(3000);
    expect(out.endsWith("…")).toBe(true);
  });
});

describe("linesWithin", () => {
  it("cuts long lists with a count of what is left", () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
    const text = linesWithin(lines);
    expect(text.length).toBeLessThanOrEqual(LIMITS.sectionText);
    const shown = text.split("\n").length - 1;
    expect(text.endsWith(`_…and ${500 - shown} more_`)).toBe(true);
  });
  it("counts items the caller left out", () => {
    expect(linesWithin(["a"], 100, 4)).toBe("a\n_…and 4 more_");
  });
});

describe("blocksWithin", () => {
  it("stops before the limit and says how many groups are left", () => {
    const groups = Array.from({ length: 40 }, (_, i) => [section(`a${i}`), section(`b${i}`)]);
    const out = blocksWithin([], groups, 50);
    expect(out.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(out.at(-1))).toContain("…and 16 more");
  });
});

describe("renderers", () => {
  const review = makeReport("nginx:1.27", "review", {
    labels: {
      "org.opencontainers.image.source": "https://github.com/nginx/docker-nginx",
      maintainer: "NGINX <docker-maint@nginx.com>",
    },
  });
  const request = makeRequest();
  const approval = makeDecision();
  const rejection = makeDecision({
    decision: "rejected",
    status: "rejected",
    expiresAt: null,
    reason: "runs as root",
  });

  describe("when rendering for the requester", () => {
    it("says it is checking", () => {
      expect(renderChecking("nginx:1.27")).toMatchSnapshot();
    });
    it("says why a check over the per-person limit was not made", () => {
      expect(renderInFlightLimit("nginx:1.27", 2, 2)).toMatchSnapshot();
      expect(renderInFlightLimit("nginx:1.27", 1, 1).text).toContain("1 check queued");
    });
    it.each([
      ["auto-approved", { kind: "auto-approved", decision: makeDecision({ decidedBy: "policy" }) }],
      ["already-approved", { kind: "already-approved", decision: approval }],
      ["already-rejected", { kind: "already-rejected", requestId: request.id, decision: rejection }],
      ["sent-to-it", { kind: "sent-to-it", requestId: request.id, previous: rejection }],
      ["needs-reason", { kind: "needs-reason", requestId: request.id }],
    ] as const)("renders the report with outcome %s", (_name, outcome) => {
      const report = outcome.kind === "auto-approved" ? makeReport("nginx:1.27", "pass") : review;
      const message = renderReport(report, outcome);
      expect(message).toMatchSnapshot();
      assertWithinLimits(message.blocks, LIMITS.messageBlocks);
    });
    it("headlines a standing rejection, not the check's pass, and offers no run line for the rejected digest", () => {
      const passed = {
        ...makeReport("nginx:1.27", "pass"),
        run: { dockerRun: "docker run --rm --read-only nginx:1.27", compose: "", notes: [] },
      };
      expect(
        JSON.stringify(renderReport(passed, { kind: "already-approved", decision: approval })),
      ).toContain("Run it with least privilege");
      const message = renderReport(passed, {
        kind: "already-rejected",
        requestId: request.id,
        decision: rejection,
      });
      expect(message.text).toBe("image-check rejected: nginx:1.27");
      const first = JSON.stringify(message.blocks[0]);
      expect(first).toContain(":x: *rejected*");
      expect(first).toContain("the check's verdict: pass");
      expect(first).not.toContain(":large_green_circle:");
      expect(JSON.stringify(message)).not.toContain("Run it with least privilege");
      expect(JSON.stringify(message)).toContain("the rejection stands");
    });
    it("shows why a check failed on the registry and offers no approval", () => {
      const message = renderReport(failedReport("registry.example:5000/team/app:1"), {
        kind: "failed",
        error: { code: "NO_DIGEST", message: "no digest" },
      });
      expect(message).toMatchSnapshot();
      const json = JSON.stringify(message);
      expect(json).toContain("REGISTRY_UNREACHABLE");
      expect(json).not.toContain("image_check.approve");
      expect(json).not.toContain("image_check.request_approval");
    });
    it("renders a check that never produced a report", () => {
      expect(
        renderCheckFailed("nginx:1.27", { code: "TIMEOUT", message: "the registry did not answer" }),
      ).toMatchSnapshot();
    });
  });

  describe("when rendering for IT", () => {
    it("asks for a decision with both buttons carrying only the request id", () => {
      const message = renderItRequest(request, review, rejection);
      expect(message).toMatchSnapshot();
      const buttons = message.blocks.flatMap((b) => (b.type === "actions" ? b.elements : []));
      expect(buttons.map((b) => [b.action_id, (b as { value?: string }).value])).toEqual([
        ["image_check.approve", request.id],
        ["image_check.reject", request.id],
      ]);
    });
    it("shows the decision without buttons once decided", () => {
      const message = renderItDecided(request, review, approval);
      expect(message).toMatchSnapshot();
      expect(message.blocks.some((b) => b.type === "actions")).toBe(false);
    });
    it("tells the requester in a DM", () => {
      expect(renderDecisionDm(request, approval, review.image.pinned)).toMatchSnapshot();
      expect(renderDecisionDm(request, rejection)).toMatchSnapshot();
    });
  });

  describe("when answering queries", () => {
    it("renders a status", () => {
      expect(renderStatus("nginx:1.27", { request, decision: approval, report: review })).toMatchSnapshot();
      expect(renderStatus("nginx:9", { request: null, decision: null, report: null })).toMatchSnapshot();
    });
    it("renders a history", () => {
      expect(
        renderHistory("docker.io/library/nginx", page([approval, rejection], "cursor")),
      ).toMatchSnapshot();
    });
    it("renders the pending list with buttons only for approvers, never on their own requests", () => {
      const own = makeRequest({ id: "req_OWN", requestedBy: "UAPPROVER" });
      expect(
        renderPending(page([request, own]), { userId: "UAPPROVER", isApprover: true }),
      ).toMatchSnapshot();
      const asUser = renderPending(page([request]), { userId: "UOTHER", isApprover: false });
      expect(asUser.blocks.some((b) => b.type === "actions")).toBe(false);
    });
    it("renders the pending list without buttons, saying why, when the viewer could not be verified", () => {
      const unverified = renderPending(page([request]), {
        userId: "UAPPROVER",
        isApprover: false,
        unverified: true,
      });
      expect(unverified).toMatchSnapshot();
      expect(unverified.blocks.some((b) => b.type === "actions")).toBe(false);
    });
    it("explains a click refused because the approver could not be verified", () => {
      expect(refusalText("APPROVERS_UNAVAILABLE")).toMatchSnapshot();
    });
    it("renders help", () => {
      expect(renderHelp()).toMatchSnapshot();
    });
    it("renders the Home tab", () => {
      expect(
        renderHome({
          userId: "UAPPROVER",
          isApprover: true,
          pending: page([request]),
          recent: page([approval, rejection]),
        }),
      ).toMatchSnapshot();
    });
    it("renders both modals", () => {
      expect(renderReasonModal(request)).toMatchSnapshot();
      expect(renderRejectModal(request)).toMatchSnapshot();
    });
    it("explains every refusal", () => {
      const codes = [
        "NOT_APPROVER",
        "SELF_DECISION",
        "ALREADY_DECIDED",
        "NOT_DECIDABLE",
        "NOT_FOUND",
        "NOT_REQUESTER",
      ] as const;
      expect(Object.fromEntries(codes.map((c) => [c, refusalText(c, approval)]))).toMatchSnapshot();
    });
  });

  describe("when the input is hostile", () => {
    const evil = makeReport("evil/app:1", "review", {
      labels: { description: HOSTILE, [HOSTILE]: "key too" },
      findings: [
        {
          id: "history.remote-script",
          category: "history",
          severity: "high",
          title: `pipes a download into a shell: ${HOSTILE}`,
          detail: HOSTILE,
          evidence: {},
        },
      ],
    });
    // Vulnerability data comes from whoever pushed the attestation: every field is hostile.
    evil.vulnerabilities = {
      sources: [{ kind: "attestation", signedBy: HOSTILE, scanner: HOSTILE, predicateType: HOSTILE }],
      counts: { critical: 1, high: 0, medium: 0, low: 0, unknown: 0 },
      items: [
        {
          id: HOSTILE,
          aliases: [HOSTILE],
          package: HOSTILE,
          installed: HOSTILE,
          fixed: HOSTILE,
          severity: "critical",
          cvss: 9.8,
          status: "affected",
        },
      ],
    };
    const evilRequest = makeRequest({
      reference: `evil/app:1 ${HOSTILE}`,
      reason: HOSTILE,
      requestedBy: "UREQUESTER",
    });
    const evilDecision = makeDecision({
      reason: HOSTILE,
      reference: HOSTILE,
      decision: "rejected",
      status: "rejected",
    });
    const outputs: [string, Message | object][] = [
      ["checking", renderChecking(HOSTILE)],
      ["in-flight limit", renderInFlightLimit(HOSTILE, 3, 2)],
      ["report", renderReport(evil, { kind: "sent-to-it", requestId: "req_1", previous: evilDecision })],
      [
        "failed",
        renderReport(failedReport("evil/app:1", "BAD", HOSTILE), {
          kind: "failed",
          error: { code: "X", message: HOSTILE },
        }),
      ],
      ["never checked", renderCheckFailed(HOSTILE, { code: "X", message: HOSTILE })],
      ["it request", renderItRequest(evilRequest, evil, evilDecision)],
      ["it decided", renderItDecided(evilRequest, evil, evilDecision)],
      ["dm", renderDecisionDm(evilRequest, evilDecision, HOSTILE)],
      ["status", renderStatus(HOSTILE, { request: evilRequest, decision: evilDecision, report: evil })],
      ["history", renderHistory(HOSTILE, page([evilDecision]))],
      ["pending", renderPending(page([evilRequest]), { userId: "UAPPROVER", isApprover: true })],
      [
        "home",
        renderHome({
          userId: "U1",
          isApprover: true,
          pending: page([evilRequest]),
          recent: page([evilDecision]),
        }),
      ],
      ["reject modal", renderRejectModal(evilRequest)],
      ["reason modal", renderReasonModal(evilRequest)],
    ];
    it.each(outputs)("keeps the %s inert", (_name, output) => {
      assertInert(output);
    });
  });

  describe("when the input carries bidirectional controls", () => {
    // Every bidi control: embeddings and overrides, isolates, and the three marks.
    const BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
      .concat(["\u200e", "\u200f", "\u061c"])
      .join("x");
    const text = `exe.${BIDI}gnp`;
    const report = makeReport("evil/app:1", "review", {
      labels: { description: text, [text]: "key too" },
      findings: [
        {
          id: "history.remote-script",
          category: "history",
          severity: "high",
          title: text,
          detail: text,
          evidence: {},
        },
      ],
    });
    const request = makeRequest({ reference: `evil/app:1 ${text}`, reason: text });
    const decision = makeDecision({
      reason: text,
      reference: text,
      decision: "rejected",
      status: "rejected",
    });
    const outputs: [string, Message | object][] = [
      ["checking", renderChecking(text)],
      ["report", renderReport(report, { kind: "sent-to-it", requestId: "req_1", previous: decision })],
      ["never checked", renderCheckFailed(text, { code: "X", message: text })],
      ["it request", renderItRequest(request, report, decision)],
      ["dm", renderDecisionDm(request, decision, text)],
      ["history", renderHistory(text, page([decision]))],
      ["reject modal", renderRejectModal(request)],
    ];
    it.each(outputs)("shows none of them in the %s, only their escapes", (_name, output) => {
      const json = JSON.stringify(output);
      expect(json).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
      expect(json).toContain("\\\\u202e");
    });
    it("escapes them in escapeSlack and inside code spans", () => {
      expect(escapeSlack("a\u202eb")).toBe("a\\u202eb");
      expect(code("a\u2066b\u061c")).toBe("`a\\u2066b\\u061c`");
    });
  });

  describe("when a finding names a build step", () => {
    it("counts steps from 1, as the text report and inspect do", () => {
      const facts = cleanFacts();
      facts.history = [
        { createdBy: "COPY app /app # buildkit", emptyLayer: false },
        { createdBy: "RUN /bin/sh -c sudo true # buildkit", emptyLayer: false },
      ];
      const json = JSON.stringify(renderReport(reportFor(facts), { kind: "sent-to-it", requestId: "req_1" }));
      expect(json).toContain("history step 2 (RUN) uses sudo");
      expect(json).not.toMatch(/history\[\d+\]/);
    });
  });

  describe("when lists are long", () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      makeRequest({
        id: `req_${String(i).padStart(16, "0")}`,
        reason: "x".repeat(400),
        requestedBy: `U${i}X`,
      }),
    );
    it("cuts a report with hundreds of findings and labels to Slack's limits", () => {
      const labels = Object.fromEntries(
        Array.from({ length: 400 }, (_, i) => [`label.${i}`, "v".repeat(500)]),
      );
      const findings = Array.from({ length: 300 }, (_, i) => ({
        id: "history.secret" as const,
        category: "history" as const,
        severity: "high" as const,
        title: `secret ${i}`,
        detail: "d".repeat(300),
        evidence: {},
      }));
      const message = renderReport(makeReport("big/app:1", "review", { labels, findings }), {
        kind: "needs-reason",
        requestId: "req_1",
      });
      assertWithinLimits(message.blocks, LIMITS.messageBlocks);
      expect(JSON.stringify(message)).toMatch(/…and \d+ more/);
      expect(message.blocks.some((b) => b.type === "actions")).toBe(true);
    });
    it("cuts the pending list with a count of what is left", () => {
      const message = renderPending(page(many, "cursor"), { userId: "UAPPROVER", isApprover: true });
      assertWithinLimits(message.blocks, LIMITS.messageBlocks);
      expect(JSON.stringify(message.blocks.at(-1))).toMatch(/…and \d+\+ more pending/);
    });
    it("keeps the Home tab within 100 blocks", () => {
      const decisions = Array.from({ length: 300 }, (_, i) =>
        makeDecision({ id: `dec_${i}`, reason: "r".repeat(300) }),
      );
      const view = renderHome({
        userId: "UAPPROVER",
        isApprover: true,
        pending: page(many),
        recent: page(decisions),
      });
      assertWithinLimits(view.blocks as Block[], LIMITS.viewBlocks);
    });
    it("cuts a long history", () => {
      const decisions = Array.from({ length: 500 }, (_, i) =>
        makeDecision({ id: `dec_${i}`, reason: "r".repeat(300) }),
      );
      const message = renderHistory("docker.io/library/nginx", page(decisions));
      assertWithinLimits(message.blocks, LIMITS.messageBlocks);
      expect(JSON.stringify(message)).toMatch(/…and \d+ more/);
    });
  });
});

describe("vulnerabilities in Slack", () => {
  function withVulns(count: number) {
    const report = makeReport("python:3.12", "block");
    const items = Array.from({ length: count }, (_, i) => ({
      id: `CVE-2024-${1000 + i}`,
      aliases: [],
      package: i % 2 ? "openssl" : "musl",
      installed: "1.0-r0",
      fixed: i === 1 ? null : `1.0-r${i + 1}`,
      severity: i < 2 ? ("critical" as const) : ("high" as const),
      cvss: null,
      status: "affected" as const,
    }));
    report.vulnerabilities = {
      sources: [
        {
          kind: "attestation",
          signedBy: "release",
          scanner: "trivy 0.50.1",
          scannedAt: "2026-11-29T00:00:00Z",
        },
      ],
      counts: { critical: 2, high: count - 2, medium: 0, low: 0, unknown: 0 },
      items,
    };
    return report;
  }
  const text = (m: Message) => JSON.stringify(m.blocks);

  it("the IT approval request shows the counts and the top 5 with their fixed versions", () => {
    const request = makeRequest({ reference: "python:3.12", verdict: "block" });
    const message = renderItRequest(request, withVulns(8), null);
    const t = text(message);
    expect(t).toContain("*Vulnerabilities* 2 critical · 6 high · 0 medium · 0 low · 0 unknown");
    expect(t).toContain("`CVE-2024-1000` musl `1.0-r0` → `1.0-r1`");
    expect(t).toContain("`CVE-2024-1001` openssl `1.0-r0` → _no fix yet_");
    expect(t).toContain("`CVE-2024-1004`");
    expect(t).not.toContain("`CVE-2024-1005`");
    expect(t).toContain("3 more");
    assertWithinLimits(message.blocks, LIMITS.messageBlocks);
  });

  it("the requester's report shows them too", () => {
    const t = text(renderReport(withVulns(3), { kind: "sent-to-it", requestId: "req_1" }));
    expect(t).toContain("trivy 0.50.1");
    expect(t).toContain("signed by release");
    expect(t).toContain("`CVE-2024-1002`");
  });

  it("App Home shows each pending request's counts, when its report has them", () => {
    const withData = makeRequest({ id: "req_withdata", reference: "python:3.12", verdict: "block" });
    const without = makeRequest({ id: "req_without", reference: "nginx:1.27", verdict: "review" });
    const view = renderHome({
      userId: "UAPPROVER",
      isApprover: true,
      pending: { items: [withData, without], next: null },
      recent: { items: [], next: null },
      vulnerabilities: { [withData.id]: { critical: 2, high: 6, medium: 1, low: 0, unknown: 0 } },
    });
    const t = JSON.stringify(view.blocks);
    expect(t).toContain("*Vulnerabilities:* 2 critical · 6 high · 1 medium · 0 low");
    expect(t.match(/Vulnerabilities:/g)).toHaveLength(1);
    assertWithinLimits(view.blocks as Block[], LIMITS.viewBlocks);
  });

  it("says nothing about vulnerabilities when the policy turned them off", () => {
    const report = withVulns(3);
    report.vulnerabilities = null;
    expect(text(renderReport(report, { kind: "sent-to-it", requestId: "req_1" }))).not.toContain(
      "Vulnerabilities",
    );
  });
});
