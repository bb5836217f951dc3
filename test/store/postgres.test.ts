import { describe, expect, it } from "vitest";
import { splitPassword } from "../../src/store/postgres.js";

describe("splitPassword", () => {
  it.each([
    ["postgres://app:s3cret@db:5432/ic", "postgres://app@db:5432/ic", "s3cret"],
    ["postgres://app:p%40ss%2Fw@db/ic", "postgres://app@db/ic", "p@ss/w"],
    [
      "postgresql://app@db/ic?password=s3cret&sslmode=require",
      "postgresql://app@db/ic?sslmode=require",
      "s3cret",
    ],
    ["postgres://app@db/ic", "postgres://app@db/ic", undefined],
  ])("splits %s into %s and the password", (input, url, password) => {
    expect(splitPassword(input)).toEqual({ url, password });
  });
});
