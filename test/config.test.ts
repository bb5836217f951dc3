import { describe, expect, it } from "vitest";
import { ConfigError, databaseUrlOf, describeDatabaseUrl, loadConfig } from "../src/config.js";

const SECRET = "s3cr3t-pw";

describe("IMAGE_CHECK_DATABASE_URL", () => {
  describe("when unset or blank", () => {
    it.each([[undefined], [""], ["   "]])("%j leaves the store on SQLite", (value) => {
      expect(loadConfig({ IMAGE_CHECK_DATABASE_URL: value }).databaseUrl).toBeUndefined();
    });
  });

  describe("when it is a PostgreSQL URL", () => {
    it.each([
      [`postgres://app:${SECRET}@db:5432/imagecheck`],
      [`postgresql://app:${SECRET}@db.internal/imagecheck?sslmode=require`],
      ["postgres://app@127.0.0.1:6543/imagecheck"],
    ])("%s is taken as it is", (value) => {
      expect(loadConfig({ IMAGE_CHECK_DATABASE_URL: value }).databaseUrl).toBe(value);
    });
  });

  describe("when it is anything else", () => {
    it.each([
      ["another database's scheme", `mysql://app:${SECRET}@db/imagecheck`, /got a "mysql:" URL/],
      ["an http URL", `http://app:${SECRET}@db/imagecheck`, /got a "http:" URL/],
      ["no scheme (the user name is read as one)", `app:${SECRET}@db`, /got a "app:" URL/],
      ["a path", "/var/lib/image-check.db", /not a URL/],
      ["no host", `postgres:///imagecheck?password=${SECRET}`, /names no host/],
    ])("refuses %s in one line that never shows the password", (_what, value, message) => {
      let caught: unknown;
      try {
        databaseUrlOf({ IMAGE_CHECK_DATABASE_URL: value });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const err = caught as ConfigError;
      expect(err.code).toBe("INVALID_CONFIG");
      expect(err.problems).toHaveLength(1);
      expect(err.message).toMatch(/^IMAGE_CHECK_DATABASE_URL: /);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain(SECRET);
    });

    it("fails every command's configuration, not only serve's", () => {
      expect(() => loadConfig({ IMAGE_CHECK_DATABASE_URL: "sqlite:///data/x.db" })).toThrow(ConfigError);
    });
  });
});

describe("describeDatabaseUrl", () => {
  it.each([
    [`postgres://app:${SECRET}@db:5432/imagecheck`, "postgres://app@db:5432/imagecheck"],
    [`postgresql://app:${SECRET}@db/imagecheck?password=${SECRET}`, "postgresql://app@db/imagecheck"],
    ["postgres://db/imagecheck", "postgres://db/imagecheck"],
  ])("prints %s as %s", (url, shown) => {
    expect(describeDatabaseUrl(url)).toBe(shown);
  });
});
