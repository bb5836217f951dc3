// `image-check migrate` and `image-check backup` (the store's admin commands).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { RequestRecord } from "../../src/store/api.js";
import { openDb, pendingMigrations } from "../../src/store/db.js";
import { openStore } from "../../src/store/service.js";
import { firstMigrationOnly } from "./migrations-support.js";
import { checkedRequest, recordingIO, tempDir } from "./support.js";

async function run(
  dbPath: string,
  cwd: string,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const rec = recordingIO({ IMAGE_CHECK_DB: dbPath, HOME: cwd }, cwd);
  const code = await main(argv, rec.io);
  return { code, out: rec.out(), err: rec.err() };
}

describe("image-check migrate", () => {
  it("creates a missing store with every migration", async () => {
    const dir = tempDir();
    const path = join(dir, "data", "store.db");
    const { code } = await run(path, dir, "migrate");
    expect(code).toBe(0);
    const db = openDb(path, { migrate: false });
    expect(pendingMigrations(db.sqlite)).toBe(0);
    db.close();
  });

  it("upgrades an old store and says so; a second run has nothing to do", async () => {
    const dir = tempDir();
    const path = join(dir, "old.db");
    openDb(path, { migrationsFolder: firstMigrationOnly() }).close();
    const first = await run(path, dir, "migrate");
    const second = await run(path, dir, "migrate");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^Applied \d+ migrations? /);
    expect(second.out).toMatch(/up to date/);
  });

  it("refuses a file that is not a store (exit 3)", async () => {
    const dir = tempDir();
    const path = join(dir, "text.db");
    writeFileSync(path, "hello\n".repeat(100));
    const { code, err } = await run(path, dir, "migrate");
    expect(code).toBe(3);
    expect(err.trim().split("\n")).toHaveLength(1);
  });
});

describe("image-check backup", () => {
  describe("while another connection holds the store open and writes", () => {
    const dir = tempDir();
    const path = join(dir, "live.db");
    const live = openStore(path);
    let req: RequestRecord;
    beforeAll(async () => {
      req = await checkedRequest(live, { repository: "docker.io/library/backup" });
      await live.decide({
        requestId: req.id,
        decision: "approved",
        decidedBy: "U_IT",
        isApprover: true,
        now: new Date(),
        expireDays: 90,
      });
    });

    it("writes a copy that opens as a store with the data", async () => {
      const target = join(dir, "copy.db");
      const { code } = await run(path, dir, "backup", target);
      await live.createRequest(
        {
          reference: "after",
          repository: "docker.io/library/after",
          tag: "1",
          requestedBy: "U",
          source: "cli",
        },
        new Date(),
      );
      expect(code).toBe(0);
      const copy = openStore(target, { readonly: true });
      expect((await copy.getRequest(req.id))?.status).toBe("approved");
      expect((await copy.history("docker.io/library/backup", {}, new Date())).items).toHaveLength(1);
      expect((await copy.history("docker.io/library/after", {}, new Date())).items).toHaveLength(0);
      await copy.close();
      await live.close();
    });

    it("refuses to overwrite an existing file without --force, and replaces it with --force", async () => {
      const target = join(dir, "exists.db");
      writeFileSync(target, "precious");
      const refused = await run(path, dir, "backup", target);
      expect(refused.code).toBe(1);
      const forced = await run(path, dir, "backup", target, "--force");
      expect(forced.code).toBe(0);
      const copy = openStore(target, { readonly: true });
      expect(await copy.getRequest(req.id)).not.toBeNull();
      await copy.close();
    });
  });

  it("needs exactly one FILE (exit 64)", async () => {
    const dir = tempDir();
    expect((await run(join(dir, "x.db"), dir, "backup")).code).toBe(64);
  });

  it("fails clearly when there is no store to back up, writing nothing", async () => {
    const dir = tempDir();
    const { code } = await run(join(dir, "missing.db"), dir, "backup", join(dir, "out.db"));
    expect(code).toBe(3);
    expect(existsSync(join(dir, "out.db"))).toBe(false);
  });

  it("refuses a FILE in a folder that does not exist with one line naming it (exit 64)", async () => {
    const dir = tempDir();
    const path = join(dir, "store.db");
    openStore(path).close();
    const { code, err } = await run(path, dir, "backup", join(dir, "no-such-folder", "copy.db"));
    expect(code).toBe(64);
    expect(err).toBe(
      `image-check backup: cannot write ${join(dir, "no-such-folder", "copy.db")}: ${join(dir, "no-such-folder")} is not an existing folder\n`,
    );
    expect(existsSync(join(dir, "no-such-folder"))).toBe(false);
  });

  it("fails in one line naming FILE when the copy cannot be written (exit 3), leaving no partial file", async () => {
    const dir = tempDir();
    const path = join(dir, "store.db");
    openStore(path).close();
    const target = join(dir, "a-folder");
    mkdirSync(target);
    const { code, err } = await run(path, dir, "backup", target, "--force");
    expect(code).toBe(3);
    expect(err.trim().split("\n")).toHaveLength(1);
    expect(err).toMatch(new RegExp(`^image-check backup: cannot write ${target} \\(E[A-Z]+: `));
    expect(readdirSync(dir).filter((f) => f.endsWith(".partial"))).toEqual([]);
  });
});
