// Compares the SQLite schema (src/store/schema.ts) with the PostgreSQL one (src/store/schema.pg.ts)
// through drizzle's own table configs (getTableConfig of each dialect), and lists every difference
// as one line that names the table, the column or index, and the side it is missing from, so
// whoever merges a schema change knows exactly what to add to the other file.
import { Column, is, SQL, StringChunk, type Table } from "drizzle-orm";
import { PgTable, getTableConfig as pgConfig } from "drizzle-orm/pg-core";
import { SQLiteTable, getTableConfig as sqliteConfig } from "drizzle-orm/sqlite-core";

/** One dialect's schema, reduced to what both engines must agree on. */
export interface SchemaShape {
  /** Where this schema is edited, for the messages ("SQLite (src/store/schema.ts)"). */
  label: string;
  tables: Map<string, TableShape>;
}

interface TableShape {
  columns: Map<string, { type: string; notNull: boolean; primary: boolean; unique: boolean; enum: string }>;
  indexes: Map<string, { columns: string; unique: boolean; where: string }>;
  checks: Map<string, string>;
  foreignKeys: Set<string>;
}

// Column types by what they store; a pair is compatible when both map to the same family.
const FAMILY: Record<string, string> = {
  SQLiteInteger: "integer",
  PgInteger: "integer",
  PgSmallInt: "integer",
  PgBigInt53: "integer",
  PgBigInt64: "integer",
  PgSerial: "integer",
  PgBigSerial53: "integer",
  PgBigSerial64: "integer",
  SQLiteText: "text",
  SQLiteTextJson: "json",
  PgText: "text",
  PgVarchar: "text",
  PgJson: "json",
  PgJsonb: "json",
  SQLiteReal: "real",
  PgReal: "real",
  PgDoublePrecision: "real",
  SQLiteBoolean: "boolean",
  PgBoolean: "boolean",
  SQLiteTimestamp: "timestamp",
  PgTimestamp: "timestamp",
  PgTimestampString: "timestamp",
  SQLiteBlobBuffer: "blob",
  SQLiteBlobJson: "json",
  PgBytea: "blob",
};

/** A predicate or check written in drizzle's `sql` template, as dialect-free text. */
export function sqlText(value: unknown): string {
  if (is(value, SQL)) return value.queryChunks.map(sqlText).join("");
  if (is(value, StringChunk)) return value.value.join("");
  if (is(value, Column)) return value.name;
  if (typeof value === "string") return `'${value}'`;
  return String(value);
}

/** The shape of every table exported by a schema module. */
export function schemaShape(label: string, module: Record<string, unknown>): SchemaShape {
  const tables = new Map<string, TableShape>();
  for (const value of Object.values(module)) {
    if (is(value, SQLiteTable)) tables.set(...tableShape(sqliteConfig(value)));
    else if (is(value, PgTable)) tables.set(...tableShape(pgConfig(value)));
  }
  return { label, tables };
}

type AnyConfig = ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>;

function tableShape(config: AnyConfig): [string, TableShape] {
  const columns: TableShape["columns"] = new Map();
  for (const c of config.columns as Column[]) {
    columns.set(c.name, {
      type: FAMILY[c.columnType] ?? c.columnType,
      notNull: c.notNull,
      primary: c.primary,
      unique: c.isUnique,
      enum: (c.enumValues ?? []).join(","),
    });
  }
  const indexes: TableShape["indexes"] = new Map();
  for (const i of config.indexes) {
    const { name, unique, where } = i.config as { name: string; unique?: boolean; where?: unknown };
    const names = (i.config.columns as { name?: string }[]).map((c) => c.name ?? sqlText(c));
    indexes.set(name, {
      columns: names.join(", "),
      unique: Boolean(unique),
      where: where === undefined ? "" : normalize(sqlText(where)),
    });
  }
  const checks: TableShape["checks"] = new Map();
  for (const c of config.checks) checks.set(c.name, normalize(sqlText(c.value)));
  const foreignKeys = new Set<string>();
  for (const fk of config.foreignKeys as {
    reference(): { columns: Column[]; foreignColumns: Column[]; foreignTable: Table };
  }[]) {
    const r = fk.reference();
    const target = is(r.foreignTable, PgTable)
      ? pgConfig(r.foreignTable).name
      : sqliteConfig(r.foreignTable as SQLiteTable).name;
    foreignKeys.add(
      `(${r.columns.map((c) => c.name).join(", ")}) -> ${target}(${r.foreignColumns.map((c) => c.name).join(", ")})`,
    );
  }
  return [config.name, { columns, indexes, checks, foreignKeys }];
}

function normalize(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .replace(/\s*([(),])\s*/g, "$1")
    .trim();
}

/** Every difference between two schemas, one line each; empty when they agree. */
export function schemaDrift(a: SchemaShape, b: SchemaShape): string[] {
  const out: string[] = [];
  const missing = (what: string, has: SchemaShape, lacks: SchemaShape): string =>
    `${what}: in ${has.label} but missing in ${lacks.label}`;
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const [table, tx] of x.tables) {
      const ty = y.tables.get(table);
      if (!ty) {
        out.push(missing(`table ${table}`, x, y));
        continue;
      }
      for (const [col, c] of tx.columns)
        if (!ty.columns.has(col))
          out.push(
            missing(`column ${table}.${col} (${c.type}, ${c.notNull ? "not null" : "nullable"})`, x, y),
          );
      for (const [name, ix] of tx.indexes)
        if (!ty.indexes.has(name))
          out.push(
            missing(`${ix.unique ? "unique index" : "index"} ${name} on ${table}(${ix.columns})`, x, y),
          );
      for (const name of tx.checks.keys())
        if (!ty.checks.has(name)) out.push(missing(`check ${name} on ${table}`, x, y));
      for (const fk of tx.foreignKeys)
        if (!ty.foreignKeys.has(fk)) out.push(missing(`foreign key ${table}${fk}`, x, y));
    }
  }
  // What both sides have must agree.
  for (const [table, ta] of a.tables) {
    const tb = b.tables.get(table);
    if (!tb) continue;
    for (const [col, ca] of ta.columns) {
      const cb = tb.columns.get(col);
      if (!cb) continue;
      for (const key of ["type", "notNull", "primary", "unique", "enum"] as const)
        if (ca[key] !== cb[key])
          out.push(`column ${table}.${col}: ${key} is ${ca[key]} in ${a.label} but ${cb[key]} in ${b.label}`);
    }
    for (const [name, ia] of ta.indexes) {
      const ib = tb.indexes.get(name);
      if (!ib) continue;
      for (const key of ["columns", "unique", "where"] as const)
        if (ia[key] !== ib[key])
          out.push(
            `index ${name} on ${table}: ${key} is "${ia[key]}" in ${a.label} but "${ib[key]}" in ${b.label}`,
          );
    }
    for (const [name, ca] of ta.checks) {
      const cb = tb.checks.get(name);
      if (cb !== undefined && ca !== cb)
        out.push(`check ${name} on ${table}: "${ca}" in ${a.label} but "${cb}" in ${b.label}`);
    }
  }
  return out;
}
