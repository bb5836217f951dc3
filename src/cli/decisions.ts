/**
 * `image-check decisions [--image REPO] [--status approved|rejected|pending|expired|revoked] [--limit N]
 * [--json|--csv]`: prior decisions from the store, newest first (../shared/CONTRACT.md,
 * "Decisions JSON"). Read-only: it never creates, migrates or writes the store.
 *
 * `--status pending` lists requests still waiting for a decision, shaped as decision rows with
 * `decision`, `decidedBy`, `decidedAt` and `expiresAt` null and `status` "pending", so scripts read
 * one shape whatever the filter.
 *
 * With IMAGE_CHECK_DATABASE_URL set it reads the PostgreSQL store (docs/postgres.md), which must be
 * migrated already.
 */
import { resolve } from "node:path";
import { describeDatabaseUrl, loadConfig } from "../config.js";
import { isCoded } from "../errors.js";
import { parseReference, repositoryPath } from "../reference/parse.js";
import type { DecisionListItem, DecisionQuery, Store } from "../store/api.js";
import { openStore } from "../store/service.js";
import { type CliIO, type Command, parseArgs, UsageError } from "./args.js";
import { TERMINAL_UNSAFE_INLINE } from "./terminal.js";

/** The contract's fields, in the contract's order (also the CSV columns). */
export const DECISION_FIELDS = [
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
] as const;

/** One row of `decisions --json`. */
export type DecisionRow = { [K in (typeof DECISION_FIELDS)[number]]: DecisionListItem[K] };

/** Defaults, each with why. */
export const DECISIONS_DEFAULTS = {
  /** A screenful; scripts that want everything pass a large --limit. */
  limit: 50,
  /** Rows fetched per store page while collecting up to --limit. */
  pageSize: 500,
};

const STATUSES = ["approved", "rejected", "pending", "expired", "revoked"] as const;

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check decisions [--image REPO] [--status STATUS] [--limit N] [--json | --csv]

Prior decisions from the store (IMAGE_CHECK_DB, default ./data/image-check.db under the current
directory; the PostgreSQL database when IMAGE_CHECK_DATABASE_URL is set), newest first. Reads
only; with no store at that path (or an unmigrated database) it says so and exits 3.

Options:
  --image REPO     only this repository (nginx, ghcr.io/acme/app; a tag or digest is ignored)
  --status STATUS  approved, rejected, expired (approvals past their expiry), revoked
                   (approvals a re-check withdrew: decidedBy is watch, reason says what
                   changed), or pending (requests waiting for a decision: decision fields are empty)
  --limit N        at most N rows (default ${DECISIONS_DEFAULTS.limit})
  --json           a JSON array of {requestId, repository, reference, digest, decision, status,
                   decidedBy, requestedBy, reason, decidedAt, expiresAt}
  --csv            the same fields as CSV, with a header row
  --debug          print stack traces on errors
  -h, --help       show this help
`;

/** The `decisions` command. */
export const decisionsCommand: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { flags, positionals } = parseArgs("decisions", argv, {
    image: { type: "string" },
    status: { type: "string", choices: STATUSES },
    limit: { type: "string" },
    json: { type: "boolean" },
    csv: { type: "boolean" },
  });
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (see image-check decisions --help)`);
  if (flags.json && flags.csv) throw new UsageError("--json and --csv exclude each other");
  const limit = parseLimit(flags.limit as string | undefined);
  const query: DecisionQuery = {};
  if (typeof flags.image === "string") query.repository = normalizeRepository(flags.image);
  if (typeof flags.status === "string") query.status = flags.status as DecisionQuery["status"];

  const config = loadConfig(io.env);
  const rows = config.databaseUrl
    ? await listDecisions(
        // Loaded only here: the SQLite path does not pay for node-postgres at start-up.
        await (await import("../store/pg-store.js")).openPgStoreForReading(
          config.databaseUrl,
          describeDatabaseUrl(config.databaseUrl),
        ),
        query,
        limit,
        new Date(),
      )
    : await readDecisions(resolve(io.cwd, config.dbPath), query, limit, new Date());
  if (flags.json) io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
  else if (flags.csv) io.stdout(toCsv(rows));
  else io.stdout(toTable(rows));
  return 0;
};

/**
 * Up to `limit` rows of the query, newest first. A missing store is StoreError NOT_FOUND ("no store
 * at PATH", exit 3), not an empty list: the default path is relative to the current directory, so
 * "no decisions" from the wrong folder would be a lie. Nothing is created.
 */
export async function readDecisions(
  dbPath: string,
  query: DecisionQuery,
  limit: number,
  now: Date,
): Promise<DecisionRow[]> {
  return await listDecisions(openStore(dbPath, { readonly: true }), query, limit, now);
}

/** Up to `limit` rows of the query from `store` (either engine), newest first; closes the store. */
async function listDecisions(
  store: Store,
  query: DecisionQuery,
  limit: number,
  now: Date,
): Promise<DecisionRow[]> {
  try {
    const rows: DecisionRow[] = [];
    let before: string | undefined;
    while (rows.length < limit) {
      const page = await store.listDecisions(
        { ...query, limit: Math.min(DECISIONS_DEFAULTS.pageSize, limit - rows.length), before },
        now,
      );
      rows.push(...page.items.map(toRow));
      if (!page.next) break;
      before = page.next;
    }
    return rows;
  } finally {
    await store.close();
  }
}

function toRow(item: DecisionListItem): DecisionRow {
  const row = {} as Record<string, unknown>;
  for (const f of DECISION_FIELDS) row[f] = item[f];
  return row as DecisionRow;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DECISIONS_DEFAULTS.limit;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new UsageError(`--limit must be a positive whole number, got "${text}"`);
  return Number(text);
}

function normalizeRepository(text: string): string {
  try {
    return repositoryPath(parseReference(text));
  } catch (err) {
    if (isCoded(err)) throw new UsageError(`--image "${text}" is not a repository name: ${err.message}`);
    throw err;
  }
}

/** RFC 4180 CSV: a header row, then one row per decision; fields with a separator, quote or line break are quoted. */
export function toCsv(rows: readonly DecisionRow[]): string {
  const lines = [DECISION_FIELDS.join(",")];
  for (const row of rows) lines.push(DECISION_FIELDS.map((f) => csvField(row[f])).join(","));
  return `${lines.join("\n")}\n`;
}

/**
 * Where a spreadsheet starts a formula: at the start of a cell, and after `;` or `,` (a spreadsheet
 * set to split on either reads `ok;=2+5` as two cells), behind any spaces. The starts are = + - @,
 * tab and carriage return (OWASP, "CSV Injection"), and their full-width forms (U+FF1D, U+FF0B,
 * U+FF0D, U+FF20), which some spreadsheets and input methods turn into the ASCII ones. One pass,
 * no nested quantifier: linear in the field's length.
 */
const FORMULA_START = /(^|[;,])( *)([=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * One CSV field. Every formula start gets a leading apostrophe, so a reason typed in Slack stays
 * text; a field with a separator (`,` or `;`), a quote or a line break is quoted (RFC 4180).
 */
function csvField(value: string | null): string {
  if (value === null) return "";
  const inert = value.replace(FORMULA_START, "$1$2'$3");
  return /[",;\r\n]/.test(inert) ? `"${inert.replaceAll('"', '""')}"` : inert;
}

/** A table for people. Text from Slack users is flattened so it cannot move the cursor or colour the terminal. */
export function toTable(rows: readonly DecisionRow[]): string {
  if (rows.length === 0) return "No decisions.\n";
  const header = ["DECIDED", "STATUS", "IMAGE", "DIGEST", "BY", "REQUESTED BY", "EXPIRES", "REASON"];
  const body = rows.map((r) => [
    r.decidedAt ? r.decidedAt.slice(0, 16).replace("T", " ") : "-",
    r.status,
    r.repository,
    r.digest ? r.digest.replace(/^sha256:/, "").slice(0, 12) : "-",
    r.decidedBy ?? "-",
    r.requestedBy,
    r.expiresAt ? r.expiresAt.slice(0, 10) : "-",
    r.reason ?? "",
  ]);
  const cells = [header, ...body].map((cols) => cols.map((c) => terminalSafe(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const lines = cells.map((cols) =>
    cols
      .map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

function terminalSafe(text: string): string {
  const flat = text.replace(TERMINAL_UNSAFE_INLINE, " ");
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
}
