/**
 * The user documentation in the repository: a clone has everything it points at, and the reference
 * pages keep up with the code (every check id, every policy field).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CHECKS } from "../src/checks/types.js";
import { defaultPolicy } from "../src/policy/schema.js";

const ROOT = resolve(import.meta.dirname, "..");
const read = (path: string) => readFileSync(resolve(ROOT, path), "utf8");
const PAGES = ["README.md", "docs/report.md", "docs/checks.md", "docs/policy.md", "docs/slack.md"];

/** Dotted paths of every leaf of a policy (`approvals.expireDays`, `registries.trusted`). */
function fieldPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value as Record<string, unknown>);
  // An empty map (checks.severity) is a field of its own.
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => fieldPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe("the documentation", () => {
  describe.each(PAGES)("%s", (page) => {
    const text = read(page);

    it("points at nothing a clone lacks: no CONTRACT.md, STYLE.md or shared folder", () => {
      expect(text).not.toMatch(/CONTRACT\.md|STYLE\.md|shared folder/i);
    });

    it("links only to files that exist", () => {
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        expect(existsSync(resolve(ROOT, dirname(page), target)), `${page} links to ${target}`).toBe(true);
      }
    });
  });

  it("README links every reference page", () => {
    const readme = read("README.md");
    for (const page of PAGES.slice(1)) expect(readme).toContain(`](${page})`);
  });

  it("README keeps the two fresh-machine commands", () => {
    const readme = read("README.md");
    expect(readme).toContain(
      "| run the main job (the Slack app; set the variables below first) | `npm ci && npm start` |",
    );
    expect(readme).toContain("| run every test | `npm ci && npm test` |");
  });

  it("docs/watch-audit.md's cron line passes the policy serve uses, not only the store", () => {
    const cron = read("docs/watch-audit.md")
      .split("\n")
      .filter((line) => line.includes("watch --once") && /^[0-9*]/.test(line));
    expect(cron).toHaveLength(1);
    expect(cron[0]).toMatch(/IMAGE_CHECK_DB=\S+ .*IMAGE_CHECK_POLICY=\S+ .*image-check watch --once/);
  });

  it.each(Object.entries(CHECKS))("docs/checks.md lists %s with its default severity", (id, c) => {
    expect(read("docs/checks.md")).toContain(`| \`${id}\` | ${c.severity} |`);
  });

  it.each(fieldPaths(defaultPolicy()))("docs/policy.md documents the policy field %s", (path) => {
    expect(read("docs/policy.md")).toContain(`| \`${path}\` |`);
  });
});
