// A copy of the shipped migrations folder holding only the first migration, to make databases as
// the first release did.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { migrationsFolder } from "../../src/store/db.js";
import { tempDir } from "./support.js";

/** A migrations folder with only the first entry of the shipped journal. */
export function firstMigrationOnly(): string {
  const source = migrationsFolder();
  const out = join(tempDir(), "migrations");
  mkdirSync(join(out, "meta"), { recursive: true });
  const journal = JSON.parse(readFileSync(join(source, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  const first = journal.entries[0]!;
  cpSync(join(source, `${first.tag}.sql`), join(out, `${first.tag}.sql`));
  writeFileSync(join(out, "meta", "_journal.json"), JSON.stringify({ ...journal, entries: [first] }));
  return out;
}
