import { sql } from "drizzle-orm";
import * as pg from "drizzle-orm/pg-core";
import * as lite from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as sqliteSchema from "../../src/store/schema.js";
import * as pgSchema from "../../src/store/schema.pg.js";
import { schemaDrift, schemaShape } from "./schema-drift.js";

const SQLITE = "SQLite (src/store/schema.ts)";
const POSTGRES = "PostgreSQL (src/store/schema.pg.ts)";

describe("the SQLite and PostgreSQL schemas", () => {
  it("have the same tables, columns, indexes, checks and foreign keys", () => {
    const drift = schemaDrift(schemaShape(SQLITE, sqliteSchema), schemaShape(POSTGRES, pgSchema));
    // Each line names what to add or change, and where.
    expect(drift).toEqual([]);
  });

  it("are read whole: the comparison sees every table of both files", () => {
    const tables = ["audit_log", "decisions", "jobs", "reports", "requests", "tag_observations"];
    expect([...schemaShape(SQLITE, sqliteSchema).tables.keys()]).toEqual(expect.arrayContaining(tables));
    expect([...schemaShape(POSTGRES, pgSchema).tables.keys()]).toEqual(expect.arrayContaining(tables));
  });
});

describe("schemaDrift", () => {
  const liteTable = lite.sqliteTable(
    "things",
    {
      seq: lite.integer("seq").primaryKey(),
      name: lite.text("name").notNull(),
      state: lite.text("state").notNull(),
      note: lite.text("note"),
    },
    (t) => [
      lite.index("things_name_idx").on(t.name),
      lite.uniqueIndex("things_active_name_idx").on(t.name).where(sql`${t.state} = 'active'`),
    ],
  );
  const sqlite = schemaShape(SQLITE, { liteTable });

  describe("when both sides agree", () => {
    const same = pg.pgTable(
      "things",
      {
        seq: pg.bigint("seq", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
        name: pg.text("name").notNull(),
        state: pg.text("state").notNull(),
        note: pg.text("note"),
      },
      (t) => [
        pg.index("things_name_idx").on(t.name),
        pg.uniqueIndex("things_active_name_idx").on(t.name).where(sql`${t.state} = 'active'`),
      ],
    );
    it("reports nothing", () => {
      expect(schemaDrift(sqlite, schemaShape(POSTGRES, { same }))).toEqual([]);
    });
  });

  describe("when PostgreSQL lacks a column, an index and a table, and differs in the rest", () => {
    const things = pg.pgTable(
      "things",
      {
        seq: pg.integer("seq").primaryKey(),
        name: pg.text("name"),
        state: pg.integer("state").notNull(),
        extra: pg.text("extra"),
      },
      (t) => [pg.uniqueIndex("things_active_name_idx").on(t.name).where(sql`${t.state} = 'gone'`)],
    );
    const others = pg.pgTable("others", { id: pg.text("id") });
    const drift = schemaDrift(sqlite, schemaShape(POSTGRES, { things, others }));

    it("names each difference, its table and the side it is missing from", () => {
      expect(drift).toEqual([
        `column things.note (text, nullable): in ${SQLITE} but missing in ${POSTGRES}`,
        `index things_name_idx on things(name): in ${SQLITE} but missing in ${POSTGRES}`,
        `column things.extra (text, nullable): in ${POSTGRES} but missing in ${SQLITE}`,
        `table others: in ${POSTGRES} but missing in ${SQLITE}`,
        `column things.name: notNull is true in ${SQLITE} but false in ${POSTGRES}`,
        `column things.state: type is text in ${SQLITE} but integer in ${POSTGRES}`,
        `index things_active_name_idx on things: where is "state = 'active'" in ${SQLITE} but "state = 'gone'" in ${POSTGRES}`,
      ]);
    });
  });
});
