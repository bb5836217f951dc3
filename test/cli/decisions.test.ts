import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type DecisionRow, toCsv, toTable } from "../../src/cli/decisions.js";
import { main } from "../../src/cli/main.js";
import { openStore } from "../../src/store/service.js";
import { checkedRequest, daysAfter, minutesAfter, recordingIO, tempDir } from "../store/support.js";

const dir = tempDir();
const dbPath = join(dir, "store.db");

// Seed: an approval long expired, a rejection with a reason that needs CSV quoting, a fresh
// approval, and one request still pending. Decided in that order, a minute apart.
// The command reads the real clock, so the seed is relative to it.
const NOW = new Date();
const store = openStore(dbPath);
/** A checked request for `repository:tag` at `at`, decided by IT at the same time. */
async function decidedRequest(
  decision: "approved" | "rejected",
  opts: { repository: string; tag: string; at: Date; reason?: string },
) {
  const req = await checkedRequest(store, {
    repository: opts.repository,
    tag: opts.tag,
    now: opts.at,
    reason: opts.reason,
  });
  await store.decide({
    requestId: req.id,
    decision,
    decidedBy: "U_IT",
    isApprover: true,
    now: opts.at,
    expireDays: 90,
  });
  return req;
}
const expired = await decidedRequest("approved", {
  repository: "docker.io/library/nginx",
  tag: "1.25",
  at: daysAfter(-200, NOW),
});
const rejected = await decidedRequest("rejected", {
  repository: "ghcr.io/acme/tool",
  tag: "2.0",
  at: minutesAfter(-2, NOW),
  reason: 'needs "root", sorry,\nreally',
});
const approved = await decidedRequest("approved", {
  repository: "docker.io/library/nginx",
  tag: "1.27",
  at: minutesAfter(-1, NOW),
});
const pending = await checkedRequest(store, {
  repository: "docker.io/library/redis",
  tag: "7",
  now: minutesAfter(-1, NOW),
});
await store.close();

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const rec = recordingIO({ IMAGE_CHECK_DB: dbPath, HOME: dir }, dir);
  const code = await main(["decisions", ...argv], rec.io);
  return { code, out: rec.out(), err: rec.err() };
}

const FIELDS = [
  "requestId",
  "repository",
  "reference",
  "digest",
  "decision",
  "status",
  "decidedBy",
  "requestedBy",
  "reason",
  "decidedAt",
  "expiresAt",
];

/** A small RFC 4180 reader, to check the CSV round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  return rows;
}

describe("image-check decisions", () => {
  describe("with --json", () => {
    it("prints every decision newest first with exactly the contract's fields", async () => {
      const { code, out } = await run("--json");
      expect(code).toBe(0);
      const rows = JSON.parse(out) as Record<string, unknown>[];
      expect(rows.map((r) => r.requestId)).toEqual([approved.id, rejected.id, expired.id]);
      for (const r of rows) expect(Object.keys(r)).toEqual(FIELDS);
      expect(rows[0]).toMatchObject({
        repository: "docker.io/library/nginx",
        digest: approved.digest,
        decision: "approved",
        status: "approved",
        decidedBy: "U_IT",
        requestedBy: "U_REQUESTER",
      });
    });

    it("shows an approval past its expiry as expired", async () => {
      const rows = JSON.parse((await run("--json")).out) as Record<string, unknown>[];
      expect(rows[2]).toMatchObject({ decision: "approved", status: "expired" });
    });
  });

  describe("with --csv", () => {
    it("prints a header row and one quoted row per decision that round-trips", async () => {
      const { code, out } = await run("--csv");
      expect(code).toBe(0);
      const rows = parseCsv(out);
      expect(rows[0]).toEqual(FIELDS);
      expect(rows).toHaveLength(4);
      const reason = rows.find((r) => r[0] === rejected.id)![FIELDS.indexOf("reason")];
      expect(reason).toBe('needs "root", sorry,\nreally');
    });

    it("makes a reason that a spreadsheet would run as a formula inert", async () => {
      const row = Object.fromEntries(FIELDS.map((f) => [f, "x"])) as unknown as DecisionRow;
      for (const formula of ['=HYPERLINK("http://evil.example","ok")', "+1+1", "-2", "@SUM(A1)"]) {
        const cell = parseCsv(toCsv([{ ...row, reason: formula }]))[1]![FIELDS.indexOf("reason")];
        expect(cell).toBe(`'${formula}`);
      }
    });

    it.each([
      ["formulas after each ; of a reason", "ok;=2+5;-3+4;@SUM(9)", "\"ok;'=2+5;'-3+4;'@SUM(9)\""],
      ["formulas after a comma and spaces", "fine, =1+1", '"fine, \'=1+1"'],
      ["a full-width equals sign", "\uFF1D1+1", "'\uFF1D1+1"],
      [
        "full-width plus, minus and at after ;",
        "a;\uFF0B1;\uFF0D1;\uFF20A1",
        "\"a;'\uFF0B1;'\uFF0D1;'\uFF20A1\"",
      ],
      ["a tab after ;", "a;\tb", '"a;\'\tb"'],
      ["plain text with a ;", "no; thanks", '"no; thanks"'],
    ])("neutralises %s and quotes the field", async (_what, reason, cell) => {
      const row = Object.fromEntries(FIELDS.map((f) => [f, "x"])) as unknown as DecisionRow;
      // Every other field is "x": the reason is what sits between the 8 fields before and the 2 after.
      const line = toCsv([{ ...row, reason }]).split("\n")[1]!;
      expect(line).toBe(`${"x,".repeat(8)}${cell}${",x".repeat(2)}`);
    });

    it("leaves null fields empty", async () => {
      const rows = parseCsv((await run("--csv", "--status", "rejected")).out);
      expect(rows[1]![FIELDS.indexOf("expiresAt")]).toBe("");
    });
  });

  describe("as a table", () => {
    it("flattens control and bidirectional-override characters from Slack text", async () => {
      const row = Object.fromEntries(FIELDS.map((f) => [f, "x"])) as unknown as DecisionRow;
      const table = toTable([
        { ...row, decidedAt: "2026-11-30T00:00:00Z", reason: "ok\u202Egnp.exe\u001b[2J" },
      ]);
      expect(table).not.toMatch(/[\u202E\u001b]/);
    });
  });

  describe.each([
    ["approved", () => [approved.id]],
    ["rejected", () => [rejected.id]],
    ["expired", () => [expired.id]],
    ["pending", () => [pending.id]],
  ])("with --status %s", (status, want) => {
    it("lists only those", async () => {
      const rows = JSON.parse((await run("--json", "--status", status)).out) as {
        requestId: string;
        status: string;
      }[];
      expect(rows.map((r) => r.requestId)).toEqual(want());
      expect(rows.every((r) => r.status === status)).toBe(true);
    });
  });

  it("shows pending requests with empty decision fields", async () => {
    const [row] = JSON.parse((await run("--json", "--status", "pending")).out) as Record<string, unknown>[];
    expect(row).toMatchObject({
      decision: null,
      decidedBy: null,
      decidedAt: null,
      expiresAt: null,
      digest: pending.digest,
    });
  });

  it("filters by --image, normalizing a short name", async () => {
    const rows = JSON.parse((await run("--json", "--image", "nginx")).out) as { requestId: string }[];
    expect(rows.map((r) => r.requestId)).toEqual([approved.id, expired.id]);
  });

  it("stops at --limit", async () => {
    const rows = JSON.parse((await run("--json", "--limit", "2")).out) as { requestId: string }[];
    expect(rows.map((r) => r.requestId)).toEqual([approved.id, rejected.id]);
  });

  it("prints a table for people, with user text flattened to one line", async () => {
    const { code, out } = await run();
    expect(code).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DECIDED\s+STATUS\s+IMAGE/);
    expect(lines).toHaveLength(4);
    expect(out).toContain('needs "root", sorry, really');
  });

  it("says there is no store at the absolute path, exits 3 and creates nothing", async () => {
    const rec = recordingIO({ IMAGE_CHECK_DB: join("none", "missing.db"), HOME: dir }, dir);
    const code = await main(["decisions", "--json"], rec.io);
    expect(code).toBe(3);
    expect(rec.out()).toBe("");
    expect(rec.err()).toBe(`image-check decisions: no store at ${join(dir, "none", "missing.db")}\n`);
    expect(existsSync(join(dir, "none"))).toBe(false);
  });

  describe.each([
    [["--bogus"]],
    [["--status", "maybe"]],
    [["--limit", "0"]],
    [["--limit", "ten"]],
    [["--json", "--csv"]],
    [["extra-argument"]],
    [["--image", "Not A Repo!"]],
  ])("with bad arguments %j", (argv) => {
    it("exits 64 with one line on stderr", async () => {
      const { code, out, err } = await run(...argv);
      expect(code).toBe(64);
      expect(out).toBe("");
      expect(err.trim().split("\n")).toHaveLength(1);
    });
  });

  it("prints its help with --help", async () => {
    const { code, out } = await run("--help");
    expect(code).toBe(0);
    expect(out).toContain("--status");
  });

  it("does not load the Slack SDK (imports checked transitively)", async () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)) {
        const spec = m[1]!;
        if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
        else bare.add(spec);
      }
    };
    visit(join(root, "src/cli/decisions.ts"));
    expect([...bare].filter((s) => s.startsWith("@slack/"))).toEqual([]);
    expect(seen.size).toBeGreaterThan(3);
  });
});
