import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { StoreError } from "../../src/store/api.js";
import { APPLICATION_ID, openDb } from "../../src/store/db.js";
import { firstMigrationOnly } from "./migrations-support.js";
import { tempDir } from "./support.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    const db = fn() as { close?: () => void };
    db.close?.();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return (err as StoreError).code;
  }
  return undefined;
}

describe("openDb", () => {
  describe("when the file does not exist yet", () => {
    const path = join(tempDir(), "nested", "dir", "store.db");
    const db = openDb(path);
    const pragma = (name: string) => db.sqlite.pragma(name, { simple: true });

    it("creates the parent directory and the database", () => {
      expect(readFileSync(path).subarray(0, 16).toString("latin1")).toBe("SQLite format 3\u0000");
    });

    it("sets WAL, foreign keys, a busy timeout and synchronous NORMAL", () => {
      expect(pragma("journal_mode")).toBe("wal");
      expect(pragma("foreign_keys")).toBe(1);
      expect(pragma("busy_timeout")).toBe(5000);
      expect(pragma("synchronous")).toBe(1);
    });

    it("stamps the image-check application id", () => {
      expect(pragma("application_id")).toBe(APPLICATION_ID);
    });

    it("opens again without complaint", () => {
      db.close();
      expect(codeOf(() => openDb(path))).toBeUndefined();
    });
  });

  describe("when the path cannot be written", () => {
    it("refuses a path under a regular file with NOT_WRITABLE", () => {
      const dir = tempDir();
      writeFileSync(join(dir, "a-file"), "x");
      expect(codeOf(() => openDb(join(dir, "a-file", "store.db")))).toBe("NOT_WRITABLE");
    });

    it("refuses a path that is a directory with NOT_WRITABLE", () => {
      const dir = tempDir();
      mkdirSync(join(dir, "store.db"));
      expect(codeOf(() => openDb(join(dir, "store.db")))).toBe("NOT_WRITABLE");
    });
  });

  describe("when the file is not an image-check store", () => {
    it("refuses a text file with NOT_A_STORE", () => {
      const path = join(tempDir(), "notes.db");
      writeFileSync(path, "these are not the tables you are looking for\n".repeat(20));
      expect(codeOf(() => openDb(path))).toBe("NOT_A_STORE");
    });

    it("refuses another application's SQLite database with NOT_A_STORE, leaving it untouched", () => {
      const path = join(tempDir(), "other.db");
      const other = new Database(path);
      other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
      other.close();
      expect(codeOf(() => openDb(path))).toBe("NOT_A_STORE");
      const check = new Database(path, { readonly: true });
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      check.close();
      expect(tables).toEqual([{ name: "customers" }]);
    });

    it("refuses an empty database stamped by another application with NOT_A_STORE", () => {
      const path = join(tempDir(), "stamped.db");
      const other = new Database(path);
      other.pragma("application_id = 1234");
      other.close();
      expect(codeOf(() => openDb(path))).toBe("NOT_A_STORE");
    });
  });

  describe("when opened read-only", () => {
    it("refuses a store that needs migrations with SCHEMA_OUTDATED", () => {
      const path = join(tempDir(), "old.db");
      openDb(path, { migrationsFolder: firstMigrationOnly() }).close();
      expect(codeOf(() => openDb(path, { readonly: true }))).toBe("SCHEMA_OUTDATED");
    });

    it("refuses a missing file with NOT_FOUND instead of creating it", () => {
      expect(codeOf(() => openDb(join(tempDir(), "missing.db"), { readonly: true }))).toBe("NOT_FOUND");
    });
  });
});
